#!/usr/bin/env node
// Makes the demo camera: a store entrance in which faces cut from face-api's
// six sample photos walk past the door one after another. Two of the people
// are staff (their enrolment pictures are other crops, at other scales, of
// the same photos); two customers come back after more than a minute, so
// the demo shows returning visitors. Nothing of it is committed: it is made
// at set-up from the photos that arrive with the models.
//
//   node tools/demo-video.mjs --footfall build/footfall --samples data/samples \
//        --models data/models --out data/demo
//
// Writes OUT/demo.mp4 (1280x720, 25 fps, 90 s, H.264; the worker loops it),
// OUT/people/*.jpg and OUT/demo.json: who passes when, and who is staff.
// With --people-only yes, only the people (crops and demo.json, no video):
// tests compose their own videos from them.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) =>
  (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));
for (const need of ['footfall', 'samples', 'models', 'out'])
  if (!args[need]) {
    console.error(`demo-video: --${need} is required`);
    process.exit(2);
  }
const out = resolve(args.out);
const PEOPLE = 8, LOOP_S = 90, PASS_S = 4, W = 1280, H = 720, FACE_PX = 200;

// Every face in the photos, with its descriptor.
const photos = readdirSync(args.samples).filter((f) => /\.jpe?g$/i.test(f)).sort()
  .map((f) => join(args.samples, f));
if (photos.length === 0) throw new Error(`no sample photos in ${args.samples} (run the bootstrap first)`);
const analyse = (files) => {
  const r = JSON.parse(execFileSync(args.footfall, ['face', 'analyze', ...files, '--json', '--models', args.models],
    { maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'] }));
  return Array.isArray(r) ? r : [r];
};
const faces = analyse(photos).flatMap((img) => img.faces.map((f) => ({ ...f, image: img.image, iw: img.width, ih: img.height })))
  .filter((f) => f.score >= 0.9 && Math.min(f.box.width, f.box.height) >= 120 && f.descriptor)
  .sort((a, b) => b.score - a.score);

// A square crop around the face box, `scale` times its larger side, `px` wide.
mkdirSync(join(out, 'people'), { recursive: true });
const crop = (face, scale, px, file) => {
  const side = Math.min(Math.round(Math.max(face.box.width, face.box.height) * scale), face.iw, face.ih);
  const cx = face.box.x + face.box.width / 2, cy = face.box.y + face.box.height / 2;
  const x = Math.round(Math.min(Math.max(cx - side / 2, 0), face.iw - side));
  const y = Math.round(Math.min(Math.max(cy - side / 2, 0), face.ih - side));
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', face.image,
    '-vf', `crop=${side}:${side}:${x}:${y},scale=${px}:${px}`, '-q:v', '3', file]);
  return file;
};

// Each face as the camera will see it: the crop that walks past the door.
// Only faces the detector finds clearly in their crop are cast.
const cast = [];
analyse(faces.map((f, k) => crop(f, 1.7, FACE_PX, join(out, 'people', `candidate${k}.jpg`)))).forEach((img, k) => {
  if (img.faces.length === 1 && img.faces[0].score >= 0.8)
    cast.push({ ...faces[k], face: img.image, descriptor: img.faces[0].descriptor });
  else
    rmSync(img.image);
});

// Eight people who are surely different: farthest-point selection, so every
// pair is well beyond the matching threshold (the photos show some people
// several times).
const distance = (a, b) => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0));
const people = [cast[0]];
while (people.length < PEOPLE) {
  let best = null, far = 0;
  for (const f of cast) {
    const near = Math.min(...people.map((p) => distance(p.descriptor, f.descriptor)));
    if (near > far) [best, far] = [f, near];
  }
  if (!best || far < 0.6) throw new Error(`only ${people.length} clearly different faces in the sample photos`);
  people.push(best);
}

for (const c of cast) if (!people.includes(c)) rmSync(c.face);

// A crop that shows this person alone and clearly (the server refuses a
// picture with two faces): a wide crop narrows until the neighbours are out.
const alone = (face, scales, px, file) => {
  for (const s of scales) {
    const [img] = analyse([crop(face, s, px, file)]);
    if (img.faces.length === 1 && img.faces[0].score >= 0.8) return file;
  }
  throw new Error(`no crop of the face in ${face.image} shows it alone`);
};

const staffNames = ['Lan Nguyen', 'Minh Tran'];
const roster = people.map((f, i) => {
  const staff = i >= PEOPLE - 2;
  const name = staff ? staffNames[i - PEOPLE + 2] : `Visitor ${String.fromCharCode(65 + i)}`;
  const person = { name, staff, photo: f.image, face: f.face };
  if (staff) // enrolment pictures: other crops at other scales than the video's
    person.enrol = [alone(f, [2.4, 2.2, 2.0, 1.8], 360, join(out, 'people', `staff${i}-wide.jpg`)),
      alone(f, [1.5, 1.6, 1.4, 1.9], 280, join(out, 'people', `staff${i}-close.jpg`))];
  return person;
});

// Who passes the door when (seconds into the loop). Visitors A and B come
// back after more than a minute (the demo's visit gap): a returning visitor.
const order = [0, 1, PEOPLE - 2, 2, 3, PEOPLE - 1, 4, 5];
const schedule = order.map((p, k) => ({ person: p, at: 2 + 7 * k }));
schedule.push({ person: 0, at: 70 }, { person: 1, at: 77 });
schedule.sort((a, b) => a.at - b.at);

// A store entrance: wall, door, floor, a sign; people walk across the door.
const font = ['/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf'].find(existsSync);
let graph = `[0]drawbox=x=0:y=${H - 170}:w=${W}:h=170:color=0x5a4a3a:t=fill,` +
  `drawbox=x=360:y=90:w=560:h=${H - 260}:color=0xc9d3dc:t=fill,` +
  `drawbox=x=360:y=90:w=560:h=${H - 260}:color=0x2c2c2c:t=12,` +
  `drawbox=x=636:y=96:w=8:h=${H - 272}:color=0x2c2c2c:t=fill` +
  (font ? `,drawtext=fontfile=${font}:text='FOOTFALL DEMO STORE':x=(w-tw)/2:y=28:fontsize=40:fontcolor=0xf0e6c8` : '') +
  '[bg0]';
const inputs = ['-f', 'lavfi', '-i', `color=c=0x6b7b8c:s=${W}x${H}:r=25:d=${LOOP_S}`];
roster.forEach((p) => inputs.push('-loop', '1', '-framerate', '25', '-i', p.face));
schedule.forEach((s, k) => {
  const x = `280+${(W - 560 - FACE_PX) / PASS_S}*(t-${s.at})`;
  graph += `;[bg${k}][${s.person + 1}]overlay=x='${x}':y=200:enable='between(t,${s.at},${s.at + PASS_S})'` +
    `:shortest=0[bg${k + 1}]`;
});
const video = join(out, 'demo.mp4');
if (args['people-only'] !== 'yes') {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...inputs, '-filter_complex', graph,
    '-map', `[bg${schedule.length}]`, '-t', String(LOOP_S), '-r', '25', '-c:v', 'libx264', '-preset', 'veryfast',
    '-g', '50', '-pix_fmt', 'yuv420p', `${video}.tmp.mp4`]);
  renameSync(`${video}.tmp.mp4`, video);
}

const manifest = {
  video, loop_seconds: LOOP_S, pass_seconds: PASS_S,
  people: roster.map(({ name, staff, photo, face, enrol }) => ({ name, staff, photo, face, ...(enrol ? { enrol } : {}) })),
  schedule: schedule.map((s) => ({ at: s.at, name: roster[s.person].name })),
};
writeFileSync(join(out, 'demo.json'), `${JSON.stringify(manifest, null, 2)}\n`);
console.log(`demo camera: ${video} (${LOOP_S} s loop, ${schedule.length} passes, staff: ${staffNames.join(', ')})`);
