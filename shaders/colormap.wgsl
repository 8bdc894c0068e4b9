// A matrix of softmax(alpha) values (rows = edges, columns = operations) drawn as a heatmap
// on the GPU that also renders the window. Each fragment looks up its matrix entry and maps it
// through the studio's sequential colour scale; the stops are those of
// `src/studio/colormap.rs` (STOPS), so the CPU legend and the GPU cells agree.

struct Params {
    rows: u32,
    cols: u32,
    vmin: f32,
    vmax: f32,
    // 1 when the render target stores linear colour (an sRGB format), 0 for gamma space.
    linear_out: u32,
    // Gap between cells, in pixels, and the heatmap's size in pixels.
    gap: f32,
    width: f32,
    height: f32,
};

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var values: texture_2d<f32>;

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

// Four vertices as a triangle strip covering the viewport (egui sets it to our rectangle).
@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOut {
    let x = f32(index & 1u);
    let y = f32((index >> 1u) & 1u);
    var out: VertexOut;
    out.position = vec4<f32>(2.0 * x - 1.0, 1.0 - 2.0 * y, 0.0, 1.0);
    out.uv = vec2<f32>(x, y);
    return out;
}

fn scale_color(t_in: f32) -> vec3<f32> {
    var stops = array<vec3<f32>, 5>(
        vec3<f32>(20.0, 24.0, 52.0),
        vec3<f32>(40.0, 70.0, 130.0),
        vec3<f32>(35.0, 140.0, 140.0),
        vec3<f32>(120.0, 195.0, 90.0),
        vec3<f32>(250.0, 230.0, 80.0),
    );
    // NaN fails every comparison: treat it as the bottom of the scale, as the CPU does.
    var t = 0.0;
    if (t_in >= 0.0) {
        t = min(t_in, 1.0);
    }
    let x = t * 4.0;
    let i = min(u32(floor(x)), 3u);
    let f = x - f32(i);
    let c = stops[i] + (stops[i + 1u] - stops[i]) * f;
    // The CPU rounds each channel to a byte; do the same so both draw identical colours.
    return round(c) / 255.0;
}

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let low = c / 12.92;
    let high = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(high, low, c <= vec3<f32>(0.04045));
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    let cell = vec2<f32>(f32(params.cols), f32(params.rows)) * in.uv;
    let col = min(u32(cell.x), params.cols - 1u);
    let row = min(u32(cell.y), params.rows - 1u);
    // Leave a thin gap between cells, transparent so the panel shows through.
    let cell_px = vec2<f32>(params.width / f32(params.cols), params.height / f32(params.rows));
    let local = fract(cell) * cell_px;
    if (local.x < params.gap || local.y < params.gap) {
        return vec4<f32>(0.0, 0.0, 0.0, 0.0);
    }
    let v = textureLoad(values, vec2<i32>(i32(col), i32(row)), 0).r;
    let span = params.vmax - params.vmin;
    var t = 0.0;
    if (span > 0.0) {
        t = (v - params.vmin) / span;
    }
    var rgb = scale_color(t);
    if (params.linear_out == 1u) {
        rgb = srgb_to_linear(rgb);
    }
    return vec4<f32>(rgb, 1.0);
}
