// Shared helpers for the face-api reference harness (golden.mjs, bench.mjs).
// Loads @vladmandic/face-api's node-wasm build on tfjs-backend-wasm, reads the
// models from a directory of TF.js manifests + shards, reads binary PPM (P6).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);

// The node-wasm bundle requires @tensorflow/tfjs and @tensorflow/tfjs-backend-wasm
// (resolved from this folder's node_modules) and re-exports them as faceapi.tf.
export const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
export const tf = faceapi.tf;
const wasmBackend = require('@tensorflow/tfjs-backend-wasm');

export const PINNED = {
  'face-api': '1.7.15',
  tfjs: '4.22.0',
  'tfjs-backend-wasm': '4.22.0',
};

// Checks the installed versions against the pins, selects the WASM backend
// (single-threaded: tfjs-backend-wasm 4.22 disables threads under Node) and
// loads the nets from `modelsDir` with face-api's own loadFromDisk
// (fs.readFile + tf.io.weightsLoaderFactory, i.e. the manifests as they are).
export async function init(modelsDir, { nets = ['ssd', 'tiny', 'lm', 'lmTiny', 'rec', 'ag'] } = {}) {
  const got = {
    'face-api': faceapi.version,
    tfjs: tf.version.tfjs,
    'tfjs-backend-wasm': tf.version['tfjs-backend-wasm'],
  };
  for (const [k, v] of Object.entries(PINNED)) {
    if (got[k] !== v) throw new Error(`version mismatch: ${k} is ${got[k]}, expected ${v} (run npm ci in tools/face-reference)`);
  }
  if (!(await tf.setBackend('wasm'))) throw new Error('cannot initialise the tfjs WASM backend');
  await tf.ready();
  if (tf.getBackend() !== 'wasm') throw new Error(`backend is ${tf.getBackend()}, expected wasm`);

  if (!fs.existsSync(path.join(modelsDir, 'ssd_mobilenetv1_model-weights_manifest.json'))) {
    throw new Error(`no face-api models in ${modelsDir} (run tools/bootstrap.sh models)`);
  }
  const map = {
    ssd: faceapi.nets.ssdMobilenetv1,
    tiny: faceapi.nets.tinyFaceDetector,
    lm: faceapi.nets.faceLandmark68Net,
    lmTiny: faceapi.nets.faceLandmark68TinyNet,
    rec: faceapi.nets.faceRecognitionNet,
    ag: faceapi.nets.ageGenderNet,
  };
  for (const n of nets) await map[n].loadFromDisk(modelsDir);
  return backendInfo();
}

export function backendInfo() {
  return {
    backend: tf.getBackend(),
    simd: tf.env().getBool('WASM_HAS_SIMD_SUPPORT'),
    threads: wasmBackend.getThreadsCount(),
  };
}

// Binary PPM (P6), maxval 1..255, '#' comments allowed in the header.
// Returns { width, height, data: Uint8Array (RGB, row-major) }.
export function readPPM(file) {
  const buf = fs.readFileSync(file);
  let pos = 0;
  const fail = (msg) => { throw new Error(`${file}: ${msg}`); };
  const isSpace = (c) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
  const token = () => {
    for (;;) {
      while (pos < buf.length && isSpace(buf[pos])) pos++;
      if (pos < buf.length && buf[pos] === 0x23) { // comment to end of line
        while (pos < buf.length && buf[pos] !== 0x0a && buf[pos] !== 0x0d) pos++;
        continue;
      }
      break;
    }
    const start = pos;
    while (pos < buf.length && !isSpace(buf[pos]) && buf[pos] !== 0x23) pos++;
    if (start === pos) fail('truncated PPM header');
    return buf.toString('latin1', start, pos);
  };
  if (token() !== 'P6') fail('not a binary PPM (P6)');
  const nums = [token(), token(), token()].map((s) => {
    if (!/^[0-9]+$/.test(s)) fail(`bad PPM header field "${s}"`);
    return Number(s);
  });
  const [width, height, maxval] = nums;
  if (width < 1 || height < 1 || width > 65535 || height > 65535) fail(`bad PPM size ${width}x${height}`);
  if (maxval < 1 || maxval > 255) fail(`unsupported PPM maxval ${maxval} (need 8-bit)`);
  if (pos >= buf.length || !isSpace(buf[pos])) fail('truncated PPM header');
  pos++; // exactly one whitespace byte before the raster
  const n = width * height * 3;
  if (buf.length - pos < n) fail(`truncated PPM raster: ${buf.length - pos} bytes, need ${n}`);
  if (maxval !== 255) fail(`PPM maxval ${maxval}: only 255 is used by footfall face decode`);
  return { width, height, data: new Uint8Array(buf.buffer, buf.byteOffset + pos, n) };
}

// [H, W, 3] int32 tensor of the exact pixel values (what tf.node.decodeImage
// would give for the same RGB, and what face-api's Node demos feed).
export function imageTensor(ppm) {
  return tf.tensor3d(Int32Array.from(ppm.data), [ppm.height, ppm.width, 3], 'int32');
}

// Expands the positional arguments: PPM files, directories (their *.ppm,
// sorted), and `@LIST` files (one path per line, '#' comments).
export function expandInputs(args) {
  const out = [];
  for (const a of args) {
    if (a.startsWith('@')) {
      const lines = fs.readFileSync(a.slice(1), 'utf8').split(/\r?\n/).map((s) => s.trim()).filter((s) => s && !s.startsWith('#'));
      out.push(...expandInputs(lines));
    } else if (fs.existsSync(a) && fs.statSync(a).isDirectory()) {
      const files = fs.readdirSync(a).filter((f) => f.toLowerCase().endsWith('.ppm')).sort();
      out.push(...files.map((f) => path.join(a, f)));
    } else {
      out.push(a);
    }
  }
  return out;
}

// Minimal --flag VALUE / --flag=VALUE / --switch parser.
export function parseArgs(argv, spec) {
  const opts = {};
  const pos = [];
  for (const [k, v] of Object.entries(spec)) opts[k] = v.default;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') { pos.push(...argv.slice(i + 1)); break; }
    if (!a.startsWith('--') || a === '--') { pos.push(a); continue; }
    let [name, val] = a.slice(2).split(/=(.*)/s);
    const s = spec[name];
    if (!s) throw new Error(`unknown option --${name}`);
    if (s.type === 'bool') { opts[name] = val === undefined ? true : val !== 'false'; continue; }
    if (val === undefined) {
      if (i + 1 >= argv.length) throw new Error(`--${name} needs a value`);
      val = argv[++i];
    }
    if (s.type === 'number') {
      const x = Number(val);
      if (!Number.isFinite(x)) throw new Error(`--${name}: not a number: ${val}`);
      opts[name] = x;
    } else {
      opts[name] = val;
    }
  }
  return { opts, pos };
}
