#!/usr/bin/env node
// Golden outputs of face-api 1.7.15 (tfjs-backend-wasm) for the C face engine.
//
//   node golden.mjs --models DIR --out DIR [options] INPUT...
//
// INPUT: binary PPM (P6) files, directories (all *.ppm in them, sorted) or
// @LIST (a text file with one path per line). The PPMs should be the RGB that
// `footfall face decode IMAGE OUT.ppm` wrote, so both sides see the same pixels.
// Writes OUT/<basename without .ppm>.json per input. See README.md.
import fs from 'node:fs';
import path from 'node:path';
import { faceapi, tf, init, readPPM, imageTensor, expandInputs, parseArgs } from './lib.mjs';

const USAGE = `usage: node golden.mjs --models DIR --out DIR [options] INPUT.ppm|DIR|@LIST...
  --image-name T          value of the "image" field; {stem} = file name without .ppm,
                          {name} = file name (default "{name}"; regen-golden.sh uses "{stem}.jpg")
  --detectors L           comma list of ssd,tiny (default "ssd,tiny")
  --min-confidence X      SSD minConfidence (default 0.5)
  --max-results N         SSD maxResults (default 100)
  --tiny-input-size N     Tiny detector inputSize, multiple of 32 (default 416)
  --tiny-score-threshold X  Tiny scoreThreshold (default 0.5)
  --whole-image           also run the descriptor and age/gender nets on the whole image
                          (for pre-cropped faces), written as "whole_image"
  --quiet                 no per-image summary on stderr`;

const SPEC = {
  models: { default: null },
  out: { default: null },
  'image-name': { default: '{name}' },
  detectors: { default: 'ssd,tiny' },
  'min-confidence': { type: 'number', default: 0.5 },
  'max-results': { type: 'number', default: 100 },
  'tiny-input-size': { type: 'number', default: 416 },
  'tiny-score-threshold': { type: 'number', default: 0.5 },
  'whole-image': { type: 'bool', default: false },
  quiet: { type: 'bool', default: false },
  help: { type: 'bool', default: false },
};

// 9 significant digits: enough to round-trip any float32, -0 printed as 0.
const num = (x) => {
  if (!Number.isFinite(x)) throw new Error(`non-finite value ${x}`);
  const y = Number(x.toPrecision(9));
  return y === 0 ? 0 : y;
};
const rectObj = (r) => ({ x: num(r.x), y: num(r.y), width: num(r.width), height: num(r.height) });
const pts = (positions) => positions.map((p) => [num(p.x), num(p.y)]);

// The rectangle face-api's extractFaceTensors() slices for a box-like input
// (FaceDetection -> forSize(W,H).box; Rect as is; then clipAtImageBorders,
// which floors x, y, width, height).
function cropRect(boxLike, W, H) {
  const b = boxLike instanceof faceapi.FaceDetection ? boxLike.forSize(W, H).box : boxLike;
  return b.clipAtImageBorders(W, H);
}

function sameArray(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

async function oneCrop(img, boxLike) {
  const [t] = await faceapi.extractFaceTensors(img, [boxLike]);
  if (!t) throw new Error('empty crop');
  return t;
}

// One detector pass: the standard face-api chain, then per face the tiny
// landmarks on the same detection crop, the crop rectangles, and a re-run of
// each net on the crop we claim was fed to it (must reproduce the chain's
// output bit for bit, otherwise the rectangles we write would be wrong).
async function runDetector(img, W, H, options) {
  const results = await faceapi.detectAllFaces(img, options)
    .withFaceLandmarks()
    .withFaceDescriptors()
    .withAgeAndGender();
  const faces = [];
  for (const r of results) {
    const det = r.detection;
    const lmRect = cropRect(det, W, H);
    const descRectRaw = r.landmarks.align(null, { useDlibAlignment: true });
    const descRect = cropRect(descRectRaw, W, H);
    const agRect = cropRect(r.alignedRect, W, H);
    for (const [what, rc] of [['landmark', lmRect], ['descriptor', descRect], ['age/gender', agRect]]) {
      if (!(rc.width > 0 && rc.height > 0)) throw new Error(`empty ${what} crop ${JSON.stringify(rc)}`);
    }

    const lmCrop = await oneCrop(img, det);
    const lmFull = await faceapi.nets.faceLandmark68Net.detectLandmarks(lmCrop);
    const lmTiny = await faceapi.nets.faceLandmark68TinyNet.detectLandmarks(lmCrop);
    lmCrop.dispose();
    const full = lmFull.shiftBy(det.box.x, det.box.y).positions;
    const tiny = lmTiny.shiftBy(det.box.x, det.box.y).positions;
    if (!sameArray(full.flatMap((p) => [p.x, p.y]), r.landmarks.positions.flatMap((p) => [p.x, p.y]))) {
      throw new Error('self-check: landmarks on the detection crop differ from the chain');
    }

    const dCrop = await oneCrop(img, descRectRaw);
    if (dCrop.shape[0] !== descRect.height || dCrop.shape[1] !== descRect.width) throw new Error('self-check: descriptor crop size');
    const desc = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(dCrop);
    dCrop.dispose();
    if (!sameArray(Array.from(desc), Array.from(r.descriptor))) {
      throw new Error('self-check: descriptor on descriptor_rect differs from the chain');
    }

    const aCrop = await oneCrop(img, r.alignedRect);
    if (aCrop.shape[0] !== agRect.height || aCrop.shape[1] !== agRect.width) throw new Error('self-check: age/gender crop size');
    const ag = await faceapi.nets.ageGenderNet.predictAgeAndGender(aCrop);
    aCrop.dispose();
    if (ag.age !== r.age || ag.gender !== r.gender || ag.genderProbability !== r.genderProbability) {
      throw new Error('self-check: age/gender on age_gender_rect differs from the chain');
    }

    faces.push({
      score: num(det.score),
      box: rectObj(det.box),
      landmarks: pts(r.landmarks.positions),
      landmarks_tiny: pts(tiny),
      descriptor_rect: rectObj(descRect),
      age_gender_rect: rectObj(agRect),
      descriptor: Array.from(r.descriptor, num),
      age: num(r.age),
      gender: r.gender,
      gender_probability: num(r.genderProbability),
    });
  }
  return faces;
}

async function main() {
  let parsed;
  try {
    parsed = parseArgs(process.argv.slice(2), SPEC);
  } catch (e) {
    console.error(`golden.mjs: ${e.message}\n${USAGE}`);
    process.exit(2);
  }
  const { opts, pos } = parsed;
  if (opts.help) { console.log(USAGE); return; }
  if (!opts.models || !opts.out || pos.length === 0) { console.error(USAGE); process.exit(2); }
  const detectors = opts.detectors.split(',').map((s) => s.trim()).filter(Boolean);
  for (const d of detectors) if (d !== 'ssd' && d !== 'tiny') { console.error(`golden.mjs: unknown detector ${d}`); process.exit(2); }
  if (opts['tiny-input-size'] % 32 !== 0) { console.error('golden.mjs: --tiny-input-size must be a multiple of 32'); process.exit(2); }

  const inputs = expandInputs(pos);
  if (inputs.length === 0) { console.error('golden.mjs: no input PPM files'); process.exit(2); }
  await init(opts.models);
  const baseTensors = tf.memory().numTensors;
  fs.mkdirSync(opts.out, { recursive: true });

  const ssdOpts = new faceapi.SsdMobilenetv1Options({ minConfidence: opts['min-confidence'], maxResults: opts['max-results'] });
  const tinyOpts = new faceapi.TinyFaceDetectorOptions({ inputSize: opts['tiny-input-size'], scoreThreshold: opts['tiny-score-threshold'] });

  for (const file of inputs) {
    const name = path.basename(file);
    const stem = name.replace(/\.ppm$/i, '');
    const ppm = readPPM(file);
    const img = imageTensor(ppm);
    const W = ppm.width;
    const H = ppm.height;
    const doc = {
      image: opts['image-name'].replaceAll('{stem}', stem).replaceAll('{name}', name),
      width: W,
      height: H,
    };
    if (detectors.includes('ssd')) doc.ssd = { faces: await runDetector(img, W, H, ssdOpts) };
    if (detectors.includes('tiny')) doc.tiny = { input_size: opts['tiny-input-size'], faces: await runDetector(img, W, H, tinyOpts) };
    if (opts['whole-image']) {
      const desc = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(img);
      const ag = await faceapi.nets.ageGenderNet.predictAgeAndGender(img);
      doc.whole_image = {
        descriptor: Array.from(desc, num),
        age: num(ag.age),
        gender: ag.gender,
        gender_probability: num(ag.genderProbability),
      };
    }
    img.dispose();
    const outFile = path.join(opts.out, `${stem}.json`);
    fs.writeFileSync(outFile, `${JSON.stringify(doc)}\n`);
    if (!opts.quiet) {
      const c = (k) => (doc[k] ? `${k} ${doc[k].faces.length}` : null);
      console.error(`golden: ${file} ${W}x${H}: ${[c('ssd'), c('tiny')].filter(Boolean).join(', ')} faces -> ${outFile}`);
    }
  }
  const leaked = tf.memory().numTensors - baseTensors;
  if (leaked !== 0) console.error(`golden: warning: ${leaked} tensors leaked`);
}

main().catch((e) => {
  console.error(`golden.mjs: ${e.stack || e}`);
  process.exit(1);
});
