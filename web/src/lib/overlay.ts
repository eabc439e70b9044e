// Draws a decoded canonical result over its image: translucent masks on the working grid
// (scaled to the image without smoothing), box outlines and `label score%`.
import { maskCells, type CanonicalResult } from './canonical';

const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45'];

export function labelColour(label: number): string {
  return PALETTE[(label - 1 + PALETTE.length) % PALETTE.length];
}

function rgb(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

export function drawOverlay(canvas: HTMLCanvasElement, img: HTMLImageElement | null, r: CanonicalResult, labels: string[] = []) {
  const w = r.width || img?.naturalWidth || 1;
  const h = r.height || img?.naturalHeight || 1;
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.fillStyle = '#222';
  ctx.fillRect(0, 0, w, h);
  if (img) ctx.drawImage(img, 0, 0, w, h);
  if (r.gridWidth > 0 && r.gridHeight > 0) {
    const grid = document.createElement('canvas');
    grid.width = r.gridWidth;
    grid.height = r.gridHeight;
    const g = grid.getContext('2d');
    if (g) {
      const data = g.createImageData(r.gridWidth, r.gridHeight);
      for (const d of r.detections) {
        const [cr, cg, cb] = rgb(labelColour(d.label));
        const cells = maskCells(d.mask);
        const bw = d.mask.x1 - d.mask.x0;
        cells.forEach((c, i) => {
          if (!c) return;
          const x = d.mask.x0 + (i % bw);
          const y = d.mask.y0 + Math.floor(i / bw);
          const o = (y * r.gridWidth + x) * 4;
          data.data[o] = cr;
          data.data[o + 1] = cg;
          data.data[o + 2] = cb;
          data.data[o + 3] = 115;
        });
      }
      g.putImageData(data, 0, 0);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(grid, 0, 0, w, h);
    }
  }
  const line = Math.max(2, Math.round(Math.min(w, h) / 200));
  ctx.lineWidth = line;
  ctx.font = `${Math.max(12, Math.round(h / 30))}px sans-serif`;
  ctx.textBaseline = 'top';
  for (const d of r.detections) {
    const [x0, y0, x1, y1] = d.bbox;
    ctx.strokeStyle = labelColour(d.label);
    ctx.strokeRect(x0 + line / 2, y0 + line / 2, x1 - x0 - line, y1 - y0 - line);
    const text = `${labels[d.label] ?? d.label} ${(d.scoreBps / 100).toFixed(0)}%`;
    const tw = ctx.measureText(text).width;
    ctx.fillStyle = labelColour(d.label);
    ctx.fillRect(x0, y0, tw + 8, parseInt(ctx.font, 10) + 6);
    ctx.fillStyle = '#fff';
    ctx.fillText(text, x0 + 4, y0 + 3);
  }
}
