// facepoints web page: upload or snapshot -> /v1/landmarks (+ /v1/filter) -> drawing on a canvas.
"use strict";
const $ = (id) => document.getElementById(id);
const canvas = $("canvas"), ctx = canvas.getContext("2d");
let current = null;   // {blob, bitmap, result}
const GROUP_COLOURS = ["#ffb000", "#ff6a00", "#21d4fd", "#2ee66b", "#ff4fa3"];
const CONTOURS = [[0, 17], [17, 22], [22, 27], [27, 31], [31, 36], [36, 42, true], [42, 48, true], [48, 60, true], [60, 68, true]];

async function init() {
  const info = await (await fetch("v1/models")).json();
  for (const name of info.filters) {
    const option = document.createElement("option");
    option.value = option.textContent = name;
    $("filter").appendChild(option);
  }
}

function setStatus(text) { $("status").textContent = text; }

async function analyse(blob) {
  setStatus("Finding faces...");
  const form = new FormData();
  form.append("file", blob, "image");
  const response = await fetch("v1/landmarks?pose=true&eyes=true&expression=true", { method: "POST", body: form });
  const result = await response.json();
  if (!response.ok) { setStatus("Error: " + result.error); return; }
  const bitmap = await createImageBitmap(blob, { imageOrientation: "from-image" });
  current = { blob, bitmap, result, filtered: null };
  await applyFilter();
  const n = result.faces.length;
  $("count").textContent = n === 1 ? "1 face" : `${n} faces`;
  $("count").dataset.faces = String(n);
  const json = new Blob([JSON.stringify(result, null, 1)], { type: "application/json" });
  $("download").href = URL.createObjectURL(json);
  $("download").hidden = false;
  setStatus(n ? `Found ${n} face(s) in ${result.width}x${result.height} pixels.` : "No face found.");
  table(result.faces);
}

async function applyFilter() {
  if (!current) return;
  const name = $("filter").value;
  current.filtered = null;
  if (name) {
    const form = new FormData();
    form.append("file", current.blob, "image");
    const response = await fetch(`v1/filter?overlay=${encodeURIComponent(name)}`, { method: "POST", body: form });
    if (response.ok) current.filtered = await createImageBitmap(await response.blob());
    else setStatus("Filter error: " + (await response.json()).error);
  }
  draw();
}

function draw() {
  if (!current) return;
  const { bitmap, result } = current;
  canvas.width = result.width; canvas.height = result.height;
  ctx.drawImage(current.filtered || bitmap, 0, 0, result.width, result.height);
  const scale = Math.max(1, result.width / 640);
  for (const face of result.faces) {
    const [x1, y1, x2, y2] = face.box;
    ctx.lineWidth = 2 * scale; ctx.strokeStyle = "#00e0ff";
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    if ($("show-points").checked) drawPoints(face.points, scale);
    if ($("show-pose").checked && face.pose) drawPose(face, scale);
  }
  canvas.dataset.drawn = String(result.faces.length);
}

function drawPoints(points, scale) {
  CONTOURS.forEach(([a, b, closed], k) => {
    ctx.strokeStyle = ctx.fillStyle = GROUP_COLOURS[Math.min(4, Math.floor(k / 2))];
    ctx.lineWidth = scale;
    ctx.beginPath();
    for (let i = a; i < b; i++) (i === a ? ctx.moveTo : ctx.lineTo).call(ctx, points[i][0], points[i][1]);
    if (closed) ctx.closePath();
    ctx.stroke();
    for (let i = a; i < b; i++) { ctx.beginPath(); ctx.arc(points[i][0], points[i][1], 1.8 * scale, 0, 2 * Math.PI); ctx.fill(); }
  });
}

function drawPose(face, scale) {
  // axes of R = Rz(roll) Ry(-yaw) Rx(-pitch), seen orthographically from the nose bridge
  const rad = Math.PI / 180, y = -face.pose.yaw * rad, p = -face.pose.pitch * rad, r = face.pose.roll * rad;
  const Rx = [[1, 0, 0], [0, Math.cos(p), -Math.sin(p)], [0, Math.sin(p), Math.cos(p)]];
  const Ry = [[Math.cos(y), 0, Math.sin(y)], [0, 1, 0], [-Math.sin(y), 0, Math.cos(y)]];
  const Rz = [[Math.cos(r), -Math.sin(r), 0], [Math.sin(r), Math.cos(r), 0], [0, 0, 1]];
  const mul = (A, B) => A.map((row) => B[0].map((_, j) => row.reduce((s, v, k) => s + v * B[k][j], 0)));
  const R = mul(Rz, mul(Ry, Rx));
  const o = face.points[27], len = (face.box[2] - face.box[0]) * 0.5;
  const axes = [[[1, 0, 0], "#ff3030"], [[0, -1, 0], "#30d030"], [[0, 0, -1], "#3080ff"]];
  ctx.lineWidth = 3 * scale;
  for (const [v, colour] of axes) {
    const dx = R[0][0] * v[0] + R[0][1] * v[1] + R[0][2] * v[2], dy = R[1][0] * v[0] + R[1][1] * v[1] + R[1][2] * v[2];
    ctx.strokeStyle = colour; ctx.beginPath(); ctx.moveTo(o[0], o[1]); ctx.lineTo(o[0] + dx * len, o[1] + dy * len); ctx.stroke();
  }
}

function table(faces) {
  const rows = faces.map((f, i) => `<tr><td>${i + 1}</td><td>${f.score.toFixed(2)}</td>` +
    `<td>${f.pose ? f.pose.yaw.toFixed(0) : ""}</td><td>${f.pose ? f.pose.pitch.toFixed(0) : ""}</td><td>${f.pose ? f.pose.roll.toFixed(0) : ""}</td>` +
    `<td>${f.eyes ? (f.eyes.eyes_open >= 0.5 ? "open" : "closed") : ""}</td><td>${f.eyes ? (f.eyes.mouth_open ? "open" : "closed") : ""}</td>` +
    `<td>${f.expression ? f.expression.smile_width.toFixed(2) : ""}</td></tr>`);
  $("faces").innerHTML = faces.length ? "<tr><th>face</th><th>score</th><th>yaw</th><th>pitch</th><th>roll</th><th>eyes</th><th>mouth</th><th>smile</th></tr>" + rows.join("") : "";
}

$("file").addEventListener("change", (e) => { if (e.target.files[0]) analyse(e.target.files[0]); });
$("filter").addEventListener("change", applyFilter);
$("show-points").addEventListener("change", draw);
$("show-pose").addEventListener("change", draw);
$("camera").addEventListener("click", async () => {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true });
    $("video").srcObject = stream; $("video").hidden = false; $("snap").hidden = false;
  } catch (err) { setStatus("No webcam: " + err.message); }
});
$("snap").addEventListener("click", () => {
  const v = $("video"), c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = v.videoHeight;
  c.getContext("2d").drawImage(v, 0, 0);
  c.toBlob((blob) => analyse(blob), "image/jpeg", 0.92);
});
init();
