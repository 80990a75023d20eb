// A small point renderer for tens of thousands of points: WebGL (one draw call for all points, one for
// the highlighted few), with a Canvas 2D fallback where WebGL is unavailable. Points live in data
// coordinates [0, 1]²; a view transform (zoom k, pan tx, ty in CSS pixels) maps them to the canvas.
// Also a uniform grid over the data for hit-testing (hover and click) in well under a millisecond.

export type RGBA = [number, number, number, number]; // 0..255

export interface View {
  k: number;
  tx: number;
  ty: number;
}

export const PAD = 12;

/** The square, centred area the unit square fills at zoom 1. */
export function frame(width: number, height: number): { size: number; ox: number; oy: number } {
  const size = Math.max(1, Math.min(width, height) - 2 * PAD);
  return { size, ox: (width - size) / 2, oy: (height - size) / 2 };
}

/** Data → CSS pixels (y grows upwards in the data, downwards on screen). */
export function toPixel(x: number, y: number, w: number, h: number, v: View): [number, number] {
  const { size, ox, oy } = frame(w, h);
  return [ox + x * size * v.k + v.tx, oy + (1 - y) * size * v.k + v.ty];
}

export function toData(px: number, py: number, w: number, h: number, v: View): [number, number] {
  const { size, ox, oy } = frame(w, h);
  return [(px - ox - v.tx) / (size * v.k), 1 - (py - oy - v.ty) / (size * v.k)];
}

/** Zoom by `factor` keeping the data point under (px, py) where it is. */
export function zoomAt(v: View, factor: number, px: number, py: number, w: number, h: number): View {
  const k = Math.min(200, Math.max(0.5, v.k * factor));
  const f = k / v.k;
  const { ox, oy } = frame(w, h);
  return { k, tx: px - ox - (px - ox - v.tx) * f, ty: py - oy - (py - oy - v.ty) * f };
}

export class Grid {
  private readonly cells: Int32Array; // point indices sorted by cell
  private readonly start: Int32Array; // cells[start[c] .. start[c + 1]] are in cell c

  constructor(private readonly xy: Float32Array, readonly n = 128) {
    const count = xy.length / 2;
    const cellOf = new Int32Array(count);
    const start = new Int32Array(n * n + 1);
    for (let i = 0; i < count; i++) {
      const c = this.cell(xy[2 * i], xy[2 * i + 1]);
      cellOf[i] = c;
      start[c + 1]++;
    }
    for (let c = 0; c < n * n; c++) start[c + 1] += start[c];
    const fill = start.slice(0, n * n);
    const cells = new Int32Array(count);
    for (let i = 0; i < count; i++) cells[fill[cellOf[i]]++] = i;
    this.cells = cells;
    this.start = start;
  }

  private clampCell(t: number): number {
    return Math.min(this.n - 1, Math.max(0, Math.floor(t * this.n)));
  }

  private cell(x: number, y: number): number {
    return this.clampCell(x) * this.n + this.clampCell(y);
  }

  /** The point nearest (x, y) within `radius` (data units), or -1. `skip(i)` leaves points out. */
  nearest(x: number, y: number, radius: number, skip?: (i: number) => boolean): number {
    const x0 = this.clampCell(x - radius), x1 = this.clampCell(x + radius);
    const y0 = this.clampCell(y - radius), y1 = this.clampCell(y + radius);
    let best = -1;
    let bestD = radius * radius;
    for (let cx = x0; cx <= x1; cx++) {
      for (let cy = y0; cy <= y1; cy++) {
        const c = cx * this.n + cy;
        for (let j = this.start[c]; j < this.start[c + 1]; j++) {
          const i = this.cells[j];
          if (skip && skip(i)) continue;
          const dx = this.xy[2 * i] - x, dy = this.xy[2 * i + 1] - y;
          const d = dx * dx + dy * dy;
          if (d <= bestD) {
            bestD = d;
            best = i;
          }
        }
      }
    }
    return best;
  }
}

export interface Layer {
  indices: Int32Array | number[]; // which points
  colours: Uint8Array; // RGBA per listed point
  size: number; // CSS pixels
}

export interface Renderer {
  readonly kind: "webgl" | "canvas2d";
  /** The colours of all points (RGBA, 4 bytes a point). */
  setColours(rgba: Uint8Array): void;
  draw(view: View, baseSize: number, overlay: Layer[]): void;
  resize(width: number, height: number): void;
  destroy(): void;
}

const VERTEX = `
attribute vec2 a_pos;
attribute vec4 a_col;
uniform vec2 u_scale;
uniform vec2 u_offset;
uniform float u_size;
varying vec4 v_col;
void main() {
  gl_Position = vec4(a_pos * u_scale + u_offset, 0.0, 1.0);
  gl_PointSize = u_size;
  v_col = a_col;
}`;

const FRAGMENT = `
precision mediump float;
varying vec4 v_col;
void main() {
  vec2 d = gl_PointCoord - vec2(0.5);
  float r = dot(d, d);
  if (r > 0.25) discard;
  gl_FragColor = vec4(v_col.rgb, v_col.a * (r > 0.16 ? 0.85 : 1.0));
}`;

class WebGLRenderer implements Renderer {
  readonly kind = "webgl" as const;
  private readonly program: WebGLProgram;
  private readonly pos: WebGLBuffer;
  private readonly col: WebGLBuffer;
  private readonly overlayPos: WebGLBuffer;
  private readonly overlayCol: WebGLBuffer;
  private readonly loc: { pos: number; col: number; scale: WebGLUniformLocation; offset: WebGLUniformLocation; size: WebGLUniformLocation };
  private width = 1;
  private height = 1;

  constructor(private readonly canvas: HTMLCanvasElement, private readonly gl: WebGLRenderingContext, private readonly xy: Float32Array) {
    const program = gl.createProgram()!;
    for (const [type, src] of [[gl.VERTEX_SHADER, VERTEX], [gl.FRAGMENT_SHADER, FRAGMENT]] as const) {
      const shader = gl.createShader(type)!;
      gl.shaderSource(shader, src);
      gl.compileShader(shader);
      if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(shader) ?? "shader");
      gl.attachShader(program, shader);
    }
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(program) ?? "link");
    this.program = program;
    this.loc = {
      pos: gl.getAttribLocation(program, "a_pos"),
      col: gl.getAttribLocation(program, "a_col"),
      scale: gl.getUniformLocation(program, "u_scale")!,
      offset: gl.getUniformLocation(program, "u_offset")!,
      size: gl.getUniformLocation(program, "u_size")!,
    };
    this.pos = gl.createBuffer()!;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.pos);
    gl.bufferData(gl.ARRAY_BUFFER, xy, gl.STATIC_DRAW);
    this.col = gl.createBuffer()!;
    this.overlayPos = gl.createBuffer()!;
    this.overlayCol = gl.createBuffer()!;
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
  }

  setColours(rgba: Uint8Array): void {
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.col);
    gl.bufferData(gl.ARRAY_BUFFER, rgba, gl.DYNAMIC_DRAW);
  }

  resize(width: number, height: number): void {
    [this.width, this.height] = [width, height];
    sizeCanvas(this.canvas, width, height);
    this.gl.viewport(0, 0, this.canvas.width, this.canvas.height);
  }

  private bind(pos: WebGLBuffer, col: WebGLBuffer): void {
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, pos);
    gl.enableVertexAttribArray(this.loc.pos);
    gl.vertexAttribPointer(this.loc.pos, 2, gl.FLOAT, false, 0, 0);
    gl.bindBuffer(gl.ARRAY_BUFFER, col);
    gl.enableVertexAttribArray(this.loc.col);
    gl.vertexAttribPointer(this.loc.col, 4, gl.UNSIGNED_BYTE, true, 0, 0);
  }

  draw(view: View, baseSize: number, overlay: Layer[]): void {
    const gl = this.gl;
    const dpr = window.devicePixelRatio || 1;
    const { size, ox, oy } = frame(this.width, this.height);
    // clip = pixel / width * 2 - 1, pixel = ox + x * size * k + tx  (and y flipped twice: data up, clip up)
    const sx = (2 * size * view.k) / this.width;
    const sy = (2 * size * view.k) / this.height;
    const offX = (2 * (ox + view.tx)) / this.width - 1;
    const offY = 1 - (2 * (oy + size * view.k + view.ty)) / this.height;
    gl.clearColor(0, 0, 0, 0);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.useProgram(this.program);
    gl.uniform2f(this.loc.scale, sx, sy);
    gl.uniform2f(this.loc.offset, offX, offY);
    gl.uniform1f(this.loc.size, baseSize * dpr);
    this.bind(this.pos, this.col);
    gl.drawArrays(gl.POINTS, 0, this.xy.length / 2);
    for (const layer of overlay) {
      const n = layer.indices.length;
      if (!n) continue;
      const sub = new Float32Array(2 * n);
      for (let j = 0; j < n; j++) {
        const i = layer.indices[j];
        sub[2 * j] = this.xy[2 * i];
        sub[2 * j + 1] = this.xy[2 * i + 1];
      }
      gl.bindBuffer(gl.ARRAY_BUFFER, this.overlayPos);
      gl.bufferData(gl.ARRAY_BUFFER, sub, gl.STREAM_DRAW);
      gl.bindBuffer(gl.ARRAY_BUFFER, this.overlayCol);
      gl.bufferData(gl.ARRAY_BUFFER, layer.colours, gl.STREAM_DRAW);
      this.bind(this.overlayPos, this.overlayCol);
      gl.uniform1f(this.loc.size, layer.size * dpr);
      gl.drawArrays(gl.POINTS, 0, n);
    }
  }

  destroy(): void {
    const gl = this.gl;
    for (const b of [this.pos, this.col, this.overlayPos, this.overlayCol]) gl.deleteBuffer(b);
    gl.deleteProgram(this.program);
  }
}

class CanvasRenderer implements Renderer {
  readonly kind = "canvas2d" as const;
  private rgba: Uint8Array = new Uint8Array(0);
  private width = 1;
  private height = 1;

  constructor(private readonly canvas: HTMLCanvasElement, private readonly ctx: CanvasRenderingContext2D, private readonly xy: Float32Array) {}

  setColours(rgba: Uint8Array): void {
    this.rgba = rgba;
  }

  resize(width: number, height: number): void {
    [this.width, this.height] = [width, height];
    const dpr = sizeCanvas(this.canvas, width, height);
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  private points(indices: ArrayLike<number> | null, colours: Uint8Array, size: number, view: View): void {
    const ctx = this.ctx;
    const n = indices ? indices.length : this.xy.length / 2;
    let last = -1;
    for (let j = 0; j < n; j++) {
      const i = indices ? indices[j] : j;
      const c = 4 * j;
      const key = (colours[c] << 24) ^ (colours[c + 1] << 16) ^ (colours[c + 2] << 8) ^ colours[c + 3];
      if (key !== last) {
        ctx.fillStyle = `rgba(${colours[c]},${colours[c + 1]},${colours[c + 2]},${colours[c + 3] / 255})`;
        last = key;
      }
      const [px, py] = toPixel(this.xy[2 * i], this.xy[2 * i + 1], this.width, this.height, view);
      ctx.fillRect(px - size / 2, py - size / 2, size, size);
    }
  }

  draw(view: View, baseSize: number, overlay: Layer[]): void {
    this.ctx.clearRect(0, 0, this.width, this.height);
    this.points(null, this.rgba, baseSize, view);
    for (const layer of overlay) this.points(layer.indices, layer.colours, layer.size, view);
  }

  destroy(): void {}
}

/** WebGL when the browser has it (`prefer` "canvas2d" forces the fallback), else Canvas 2D. */
export function createRenderer(canvas: HTMLCanvasElement, xy: Float32Array, prefer: "webgl" | "canvas2d" = "webgl"): Renderer {
  if (prefer === "webgl") {
    try {
      const gl = canvas.getContext("webgl", { antialias: false, premultipliedAlpha: false, preserveDrawingBuffer: true });
      if (gl) return new WebGLRenderer(canvas, gl, xy);
    } catch {
      // fall through to Canvas 2D
    }
  }
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("this browser has neither WebGL nor a 2D canvas");
  return new CanvasRenderer(canvas, ctx, xy);
}

// A categorical palette for clusters (Tableau 10 and its lighter partners): distinguishable neighbours.
const PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
  "#a0cbe8", "#ffbe7d", "#ff9d9a", "#86bcb6", "#8cd17d", "#f1ce63", "#d4a6c8", "#fabfd2", "#d7b5a6", "#79706e",
].map((h) => {
  const n = parseInt(h.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255] as [number, number, number];
});

export function clusterColour(c: number): [number, number, number] {
  return c === 255 ? [150, 150, 150] : PALETTE[(c * 7) % PALETTE.length];
}

/** Backing store at device pixels for a canvas of `width` × `height` CSS pixels; returns the pixel ratio. */
function sizeCanvas(canvas: HTMLCanvasElement, width: number, height: number): number {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  return dpr;
}
