// The TypeScript decoder against the vectors the Rust encoder wrote (oracle/tests/web.rs).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { hexToBytes, sha256 } from 'viem';
import { CanonicalParseError, cidOfSha256, maskCells, parseCanonical } from '../src/lib/canonical';

interface Vectors {
  valid: { name: string; hex: string; sha256: string; cid: string; decoded: unknown }[];
  invalid: { name: string; hex: string }[];
}
const vectors = JSON.parse(readFileSync(resolve(import.meta.dirname, 'vectors', 'canonical.json'), 'utf8')) as Vectors;
const bytes = (hex: string) => hexToBytes(`0x${hex}`);

describe('canonical result decoder', () => {
  it('has vectors to check', () => {
    expect(vectors.valid.length).toBeGreaterThanOrEqual(6);
    expect(vectors.invalid.length).toBeGreaterThanOrEqual(5);
  });

  for (const v of vectors.valid) {
    it(`decodes ${v.name} as the Rust parser does`, () => {
      const b = bytes(v.hex);
      expect(parseCanonical(b)).toEqual(v.decoded);
      expect(sha256(b)).toBe(v.sha256);
      expect(cidOfSha256(hexToBytes(v.sha256 as `0x${string}`))).toBe(v.cid);
    });
  }

  for (const v of vectors.invalid) {
    it(`refuses ${v.name}`, () => {
      expect(() => parseCanonical(bytes(v.hex))).toThrow(CanonicalParseError);
    });
  }

  it('refuses a non-minimal varint and a run that overflows the mask box', () => {
    const v = vectors.valid.find((x) => x.name === 'synthetic-instances')!;
    const b = bytes(v.hex);
    // The header is 81 bytes; the first detection's 32 fixed bytes end with its run count.
    const runsAt = 81 + 32;
    const nonMinimal = new Uint8Array([...b.slice(0, runsAt), b[runsAt] | 0x80, 0x00, ...b.slice(runsAt + 1)]);
    expect(() => parseCanonical(nonMinimal)).toThrow(CanonicalParseError);
    const longer = b.slice();
    longer[runsAt] = longer[runsAt] + 1;
    expect(() => parseCanonical(longer)).toThrow(CanonicalParseError);
  });

  it('expands a mask to its cells', () => {
    const cells = maskCells({ x0: 0, y0: 0, x1: 3, y1: 2, area: 3, runs: [1, 2, 2, 1] });
    expect([...cells]).toEqual([0, 1, 1, 0, 0, 1]);
  });
});
