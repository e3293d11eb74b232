// Real face descriptors for tests: crops of ../shared/data/faces-bbt padded
// with a neutral border (the crops are tight; the border lets the detector
// find the face), analysed by the real face engine (`footfall face analyze`).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from './server.mjs';

export const FACES = join(process.env.FOOTFALL_SHARED_DATA || '../shared/data', 'faces-bbt');
/** A skip reason when the data set is absent (it comes with the developers' shared data). */
export const facesMissing = !existsSync(FACES) && `faces-bbt is not at ${FACES} (it comes with the developers' shared data)`;

/**
 * Pads person1..personN (count per person) into dir as JPEGs and analyses them.
 * Returns {name: face} for each picture with exactly one face; face.crop is the
 * padded JPEG in base64.
 */
export function analyseFaces(dir, counts) {
  const files = [];
  for (const [p, n] of Object.entries(counts))
    for (let k = 1; k <= n; k++) {
      const out = join(dir, `${p}${k}.jpg`);
      execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-i', join(FACES, p, `${p}${k}.png`),
        '-vf', 'pad=300:300:75:75:color=0x808080', '-q:v', '2', out]);
      files.push(out);
    }
  const analysed = JSON.parse(execFileSync(BIN, ['face', 'analyze', '--json', ...files], { encoding: 'utf8', maxBuffer: 64 << 20 }));
  const faces = {};
  for (const image of analysed) {
    const name = image.image.split('/').pop().replace('.jpg', '');
    if (image.faces.length === 1)
      faces[name] = { ...image.faces[0], crop: readFileSync(join(dir, `${name}.jpg`)).toString('base64') };
  }
  return faces;
}
