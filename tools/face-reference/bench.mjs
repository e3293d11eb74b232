#!/usr/bin/env node
// Speed anchor: face-api 1.7.15 on tfjs-backend-wasm (SIMD, one thread).
//
//   node bench.mjs --models DIR [--runs N] [--max-seconds S] INPUT.ppm|DIR|@LIST...
//
// Prints one JSON object to stdout (milliseconds, medians over all timed
// samples of a stage: images x runs, or faces x runs). Progress goes to stderr.
//
// Stages (each timed call includes face-api's own pre-processing, i.e. pad to
// square + bilinear resize + normalisation, and reading the result back):
//   ssd_ms            detectAllFaces(image, SSD minConfidence 0.5): pad+resize of the
//                     full image, net, box decoding, NMS
//   tiny_ms           detectAllFaces(image, Tiny inputSize 416, scoreThreshold 0.5)
//   landmarks_ms      faceLandmark68Net.detectLandmarks(detection crop)
//   landmarks_tiny_ms faceLandmark68TinyNet.detectLandmarks(detection crop)
//   descriptor_ms     faceRecognitionNet.computeFaceDescriptor(descriptor crop)
//   age_gender_ms     ageGenderNet.predictAgeAndGender(alignedRect crop)
//   full_chain_ms     detectAllFaces(image, SSD).withFaceLandmarks()
//                       .withFaceDescriptors().withAgeAndGender()
// The per-face crops are cut from the image tensor once, before timing (the
// rectangles face-api uses for the SSD faces, as in golden.mjs); cutting them
// is part of full_chain_ms only.
//
// Runs go in rounds (one timed call of every stage on every image/face per
// round, after one warm-up round); rounds stop at --runs or when the next
// round would pass --max-seconds (at least one timed round always runs).
import { performance } from 'node:perf_hooks';
import { faceapi, tf, init, backendInfo, readPPM, imageTensor, expandInputs, parseArgs } from './lib.mjs';

const USAGE = `usage: node bench.mjs --models DIR [--runs N] [--max-seconds S] INPUT.ppm|DIR|@LIST...
  --runs N          timed runs per item (default 10)
  --max-seconds S   bound on the total time incl. loading and warm-up (default 120)
  --quiet           no progress on stderr`;

const SPEC = {
  models: { default: null },
  runs: { type: 'number', default: 10 },
  'max-seconds': { type: 'number', default: 120 },
  quiet: { type: 'bool', default: false },
  help: { type: 'bool', default: false },
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return null;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const ms = (x) => (x === null ? null : Math.round(x * 100) / 100);

async function main() {
  const t0 = performance.now();
  let parsed;
  try {
    parsed = parseArgs(process.argv.slice(2), SPEC);
  } catch (e) {
    console.error(`bench.mjs: ${e.message}\n${USAGE}`);
    process.exit(2);
  }
  const { opts, pos } = parsed;
  if (opts.help) { console.log(USAGE); return; }
  if (!opts.models || pos.length === 0 || !(opts.runs >= 1)) { console.error(USAGE); process.exit(2); }
  const log = opts.quiet ? () => {} : (m) => console.error(`bench: ${m}`);
  const deadline = t0 + opts['max-seconds'] * 1000;

  const inputs = expandInputs(pos);
  await init(opts.models);
  const ssdOpts = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 100 });
  const tinyOpts = new faceapi.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: 0.5 });

  // Images and per-face crops (from the SSD chain, as face-api cuts them).
  const images = [];
  const faces = [];
  for (const file of inputs) {
    const ppm = readPPM(file);
    const img = imageTensor(ppm);
    images.push({ file, img });
    const res = await faceapi.detectAllFaces(img, ssdOpts).withFaceLandmarks();
    for (const r of res) {
      const [lm] = await faceapi.extractFaceTensors(img, [r.detection]);
      const [desc] = await faceapi.extractFaceTensors(img, [r.landmarks.align(null, { useDlibAlignment: true })]);
      const [ag] = await faceapi.extractFaceTensors(img, [r.alignedRect]);
      faces.push({ lm, desc, ag });
    }
    log(`${file}: ${ppm.width}x${ppm.height}, ${res.length} SSD faces`);
  }
  if (faces.length === 0) log('no faces found: per-face stages not measured');

  const stages = {
    ssd_ms: { items: images, fn: (it) => faceapi.detectAllFaces(it.img, ssdOpts) },
    tiny_ms: { items: images, fn: (it) => faceapi.detectAllFaces(it.img, tinyOpts) },
    landmarks_ms: { items: faces, fn: (f) => faceapi.nets.faceLandmark68Net.detectLandmarks(f.lm) },
    landmarks_tiny_ms: { items: faces, fn: (f) => faceapi.nets.faceLandmark68TinyNet.detectLandmarks(f.lm) },
    descriptor_ms: { items: faces, fn: (f) => faceapi.nets.faceRecognitionNet.computeFaceDescriptor(f.desc) },
    age_gender_ms: { items: faces, fn: (f) => faceapi.nets.ageGenderNet.predictAgeAndGender(f.ag) },
    full_chain_ms: {
      items: images,
      fn: (it) => faceapi.detectAllFaces(it.img, ssdOpts).withFaceLandmarks().withFaceDescriptors().withAgeAndGender(),
    },
  };
  const samples = Object.fromEntries(Object.keys(stages).map((k) => [k, []]));
  const baseTensors = tf.memory().numTensors;

  const round = async (record) => {
    for (const [name, st] of Object.entries(stages)) {
      for (const it of st.items) {
        const a = performance.now();
        await st.fn(it);
        const b = performance.now();
        if (record) samples[name].push(b - a);
      }
    }
  };

  let w = performance.now();
  await round(false); // warm-up: kernel set-up, XNNPACK weight packing, JIT
  let roundMs = performance.now() - w;
  log(`warm-up round ${Math.round(roundMs)} ms`);
  let runs = 0;
  while (runs < opts.runs) {
    if (runs > 0 && performance.now() + roundMs > deadline) {
      log(`stopping after ${runs} runs (--max-seconds ${opts['max-seconds']})`);
      break;
    }
    w = performance.now();
    await round(true);
    roundMs = performance.now() - w;
    runs++;
    log(`round ${runs}: ${Math.round(roundMs)} ms`);
  }
  const leaked = tf.memory().numTensors - baseTensors;
  if (leaked !== 0) log(`warning: ${leaked} tensors leaked during timing`);

  const info = backendInfo();
  const out = {
    backend: info.backend,
    simd: info.simd,
    threads: info.threads,
    ssd_ms: ms(median(samples.ssd_ms)),
    tiny_ms: ms(median(samples.tiny_ms)),
    landmarks_ms: ms(median(samples.landmarks_ms)),
    descriptor_ms: ms(median(samples.descriptor_ms)),
    age_gender_ms: ms(median(samples.age_gender_ms)),
    full_chain_ms: ms(median(samples.full_chain_ms)),
    runs,
    landmarks_tiny_ms: ms(median(samples.landmarks_tiny_ms)),
    images: images.length,
    faces: faces.length,
    total_s: Math.round((performance.now() - t0) / 100) / 10,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((e) => {
  console.error(`bench.mjs: ${e.stack || e}`);
  process.exit(1);
});
