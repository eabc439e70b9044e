// Decoder of the canonical result, format version 1 (docs/inference.md), the same checks as
// `CanonicalResult::parse` in inference/src/canonical.rs: a result that parses re-encodes to
// the same bytes. Tested against vectors written by the Rust encoder (test/vectors/).

export const STATUS_NAMES = ['Ok', 'FetchFailed', 'NotAnImage', 'CorruptImage', 'TooLarge', 'ModelError'] as const;
export type StatusName = (typeof STATUS_NAMES)[number];

/** A mask on the working grid: runs of 0 and 1 over its box, row-major, starting with 0. */
export interface Mask {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  area: number;
  runs: number[];
}

export interface Detection {
  label: number;
  scoreBps: number;
  /** [x0, y0, x1, y1), image pixels. */
  bbox: [number, number, number, number];
  maskArea: number;
  mask: Mask;
}

export interface CanonicalResult {
  status: StatusName;
  modelSha256: string;
  inputSha256: string;
  width: number;
  height: number;
  gridWidth: number;
  gridHeight: number;
  truncated: boolean;
  detections: Detection[];
}

/** Why bytes are not a canonical result. */
export class CanonicalParseError extends Error {
  override name = 'CanonicalParseError';
}

const MAX_RESULT_BYTES = 1024 * 1024;
const MAX_DETECTIONS = 100;

class Reader {
  pos = 0;
  constructor(private readonly b: Uint8Array) {}
  private need(n: number) {
    if (this.pos + n > this.b.length) throw new CanonicalParseError('truncated');
  }
  u8(): number {
    this.need(1);
    return this.b[this.pos++];
  }
  u16(): number {
    this.need(2);
    const v = (this.b[this.pos] << 8) | this.b[this.pos + 1];
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = ((this.b[this.pos] << 24) >>> 0) + (this.b[this.pos + 1] << 16) + (this.b[this.pos + 2] << 8) + this.b[this.pos + 3];
    this.pos += 4;
    return v;
  }
  hex(n: number): string {
    this.need(n);
    let s = '0x';
    for (let i = 0; i < n; i++) s += this.b[this.pos + i].toString(16).padStart(2, '0');
    this.pos += n;
    return s;
  }
  /** Unsigned LEB128, minimal, fitting in u32. */
  varint(): number {
    let v = 0;
    for (let i = 0; i < 5; i++) {
      const byte = this.u8();
      v += (byte & 0x7f) * 2 ** (7 * i);
      if ((byte & 0x80) === 0) {
        if (i > 0 && byte === 0) throw new CanonicalParseError('non-minimal varint');
        if (v > 0xffffffff) throw new CanonicalParseError('varint over u32');
        return v;
      }
    }
    throw new CanonicalParseError('varint too long');
  }
  get done() {
    return this.pos === this.b.length;
  }
}

function scaleBox(m: Mask, w: number, h: number, gw: number, gh: number): [number, number, number, number] {
  const gwx = Math.max(gw, 1);
  const ghx = Math.max(gh, 1);
  // Same integer arithmetic as Detection::new: floor for the start, ceil for the end, clamped.
  const floor = (v: number, full: number, g: number) => Math.min(Math.floor((v * full) / g), full);
  const ceil = (v: number, full: number, g: number) => Math.min(Math.ceil((v * full) / g), full);
  return [floor(m.x0, w, gwx), floor(m.y0, h, ghx), ceil(m.x1, w, gwx), ceil(m.y1, h, ghx)];
}

function checkMask(m: Mask, gw: number, gh: number) {
  if (m.x0 >= m.x1 || m.y0 >= m.y1 || m.x1 > gw || m.y1 > gh) throw new CanonicalParseError('mask box');
  const cells = (m.x1 - m.x0) * (m.y1 - m.y0);
  let total = 0;
  let set = 0;
  m.runs.forEach((r, i) => {
    if (i > 0 && r === 0) throw new CanonicalParseError('empty run');
    total += r;
    if (i % 2 === 1) set += r;
  });
  if (total !== cells) throw new CanonicalParseError('mask runs');
  if (set !== m.area || m.area === 0) throw new CanonicalParseError('mask runs');
}

/** The mask's cells over its own box (row-major, `(x1-x0) * (y1-y0)`, 1 = set). */
export function maskCells(m: Mask): Uint8Array {
  const bw = m.x1 - m.x0;
  const out = new Uint8Array(bw * (m.y1 - m.y0));
  let pos = 0;
  m.runs.forEach((r, i) => {
    if (i % 2 === 1) out.fill(1, pos, Math.min(pos + r, out.length));
    pos += r;
  });
  return out;
}

type Key = (number | number[])[];
function orderKey(d: Detection): Key {
  const m = d.mask;
  return [-d.scoreBps, d.label, d.bbox[1], d.bbox[0], d.bbox[3], d.bbox[2], -d.maskArea, m.x0, m.y0, m.x1, m.y1, m.area, m.runs];
}
function cmpKey(a: Key, b: Key): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (Array.isArray(x) && Array.isArray(y)) {
      for (let j = 0; j < Math.min(x.length, y.length); j++) if (x[j] !== y[j]) return x[j] - y[j];
      if (x.length !== y.length) return x.length - y.length;
    } else if (x !== y) {
      return (x as number) - (y as number);
    }
  }
  return 0;
}

/** Parses canonical bytes; throws [`CanonicalParseError`] on anything the Rust parser refuses. */
export function parseCanonical(bytes: Uint8Array): CanonicalResult {
  if (bytes.length > MAX_RESULT_BYTES) throw new CanonicalParseError('over 1 MiB');
  const r = new Reader(bytes);
  const magic = String.fromCharCode(r.u8(), r.u8(), r.u8(), r.u8());
  if (magic !== 'MOCR' || r.u8() !== 1) throw new CanonicalParseError('bad header');
  const code = r.u8();
  const status = STATUS_NAMES[code];
  if (status === undefined) throw new CanonicalParseError(`bad status ${code}`);
  const flags = r.u8();
  if (flags & ~1) throw new CanonicalParseError('unknown flags');
  const modelSha256 = r.hex(32);
  const inputSha256 = r.hex(32);
  const width = r.u16();
  const height = r.u16();
  const gridWidth = r.u16();
  const gridHeight = r.u16();
  const count = r.u16();
  if (count > MAX_DETECTIONS || (status !== 'Ok' && count > 0)) throw new CanonicalParseError('detection count');
  const detections: Detection[] = [];
  for (let i = 0; i < count; i++) {
    const label = r.u16();
    const scoreBps = r.u16();
    const bbox: [number, number, number, number] = [r.u16(), r.u16(), r.u16(), r.u16()];
    const maskArea = r.u32();
    const mask: Mask = { x0: r.u16(), y0: r.u16(), x1: r.u16(), y1: r.u16(), area: r.u32(), runs: [] };
    const n = r.u32();
    if (n > bytes.length) throw new CanonicalParseError('truncated');
    for (let j = 0; j < n; j++) mask.runs.push(r.varint());
    checkMask(mask, gridWidth, gridHeight);
    const want = scaleBox(mask, width, height, gridWidth, gridHeight);
    // Area in image pixels, rounded half up (BigInt: the product can pass 2^53).
    const cells = BigInt(Math.max(gridWidth, 1) * Math.max(gridHeight, 1));
    const wantArea = (BigInt(mask.area) * BigInt(width) * BigInt(height) + cells / 2n) / cells;
    const clampedArea = wantArea > 0xffffffffn ? 0xffffffff : Number(wantArea);
    if (want.some((v, k) => v !== bbox[k]) || clampedArea !== maskArea || scoreBps > 10_000 || scoreBps % 100 !== 0) {
      throw new CanonicalParseError('detection fields');
    }
    const d: Detection = { label, scoreBps, bbox, maskArea, mask };
    const prev = detections[detections.length - 1];
    if (prev && cmpKey(orderKey(prev), orderKey(d)) > 0) throw new CanonicalParseError('detections out of order');
    detections.push(d);
  }
  if (!r.done) throw new CanonicalParseError('trailing bytes');
  return { status, modelSha256, inputSha256, width, height, gridWidth, gridHeight, truncated: (flags & 1) !== 0, detections };
}

/** CIDv1, raw codec, sha2-256, base32 lower-case (`bafkrei…`), from a 32-byte sha256. */
export function cidOfSha256(sha256: Uint8Array): string {
  const bytes = new Uint8Array([0x01, 0x55, 0x12, 0x20, ...sha256]);
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let out = 'b';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}
