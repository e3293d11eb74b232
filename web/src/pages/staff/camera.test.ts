import { describe, expect, it } from 'vitest';
import { cameraProblem } from './camera';

const err = (name: string) => Object.assign(new Error(name), { name });

describe('cameraProblem', () => {
  it('tells a refused permission from a missing or busy camera', () => {
    expect(cameraProblem(err('NotAllowedError'), true, true)).toBe('staff.webcam.denied');
    expect(cameraProblem(err('NotFoundError'), true, true)).toBe('staff.webcam.none');
    expect(cameraProblem(err('OverconstrainedError'), true, true)).toBe('staff.webcam.none');
    expect(cameraProblem(err('NotReadableError'), true, true)).toBe('staff.webcam.busy');
    expect(cameraProblem(err('Weird'), true, true)).toBe('staff.webcam.failed');
    expect(cameraProblem('not an error', true, true)).toBe('staff.webcam.failed');
  });
  it('without the API: plain HTTP is named as the reason', () => {
    expect(cameraProblem(null, false, false)).toBe('staff.webcam.insecure');
    expect(cameraProblem(null, true, false)).toBe('staff.webcam.unsupported');
  });
});
