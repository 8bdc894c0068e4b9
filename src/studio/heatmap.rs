//! The softmax(alpha) matrix of a cell (rows = edges, columns = operations) as a heatmap. When
//! the window renders with wgpu, the cells are drawn by `shaders/colormap.wgsl` on the same
//! device burn computes on; otherwise the painter draws the same colours on the CPU.

use std::collections::HashMap;

use egui::{Align2, FontId, Pos2, Rect, Sense, Ui, Vec2};
use egui_wgpu::{CallbackResources, CallbackTrait, RenderState, ScreenDescriptor, wgpu};

use super::colormap::{ValueRange, scale_color};

/// The pipeline, installed once into the renderer's callback resources.
struct HeatmapPipeline {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    /// Per heatmap on screen: its value texture, parameters and bind group.
    slots: HashMap<u64, Slot>,
}

struct Slot {
    dims: (u32, u32),
    texture: wgpu::Texture,
    params: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

/// Builds the pipeline for the window's render target. Returns false (the CPU path is then
/// used) only if the renderer already holds one.
pub fn install(rs: &RenderState) -> bool {
    let device = &rs.device;
    let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("alpha heatmap"),
        source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/colormap.wgsl").into()),
    });
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("alpha heatmap"),
        entries: &[
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            },
            wgpu::BindGroupLayoutEntry {
                binding: 1,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Texture {
                    sample_type: wgpu::TextureSampleType::Float { filterable: false },
                    view_dimension: wgpu::TextureViewDimension::D2,
                    multisampled: false,
                },
                count: None,
            },
        ],
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("alpha heatmap"),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some("alpha heatmap"),
        layout: Some(&pipeline_layout),
        vertex: wgpu::VertexState {
            module: &shader,
            entry_point: Some("vs_main"),
            buffers: &[],
            compilation_options: Default::default(),
        },
        fragment: Some(wgpu::FragmentState {
            module: &shader,
            entry_point: Some("fs_main"),
            targets: &[Some(wgpu::ColorTargetState {
                format: rs.target_format,
                // egui blends premultiplied colours; the shader's gaps are fully transparent.
                blend: Some(wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING),
                write_mask: wgpu::ColorWrites::ALL,
            })],
            compilation_options: Default::default(),
        }),
        primitive: wgpu::PrimitiveState {
            topology: wgpu::PrimitiveTopology::TriangleStrip,
            ..Default::default()
        },
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        multiview_mask: None,
        cache: None,
    });
    let mut renderer = rs.renderer.write();
    if renderer
        .callback_resources
        .get::<HeatmapPipeline>()
        .is_some()
    {
        return false;
    }
    renderer.callback_resources.insert(HeatmapPipeline {
        pipeline,
        layout,
        slots: HashMap::new(),
    });
    true
}

/// One heatmap to draw this frame.
struct HeatmapCallback {
    key: u64,
    rows: u32,
    cols: u32,
    values: Vec<f32>,
    range: ValueRange,
    linear_out: bool,
    gap: f32,
    size_px: [f32; 2],
}

impl CallbackTrait for HeatmapCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
        resources: &mut CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        let Some(hp) = resources.get_mut::<HeatmapPipeline>() else {
            return Vec::new();
        };
        let dims = (self.cols, self.rows);
        let stale = hp.slots.get(&self.key).is_none_or(|s| s.dims != dims);
        if stale {
            let texture = device.create_texture(&wgpu::TextureDescriptor {
                label: Some("alpha values"),
                size: wgpu::Extent3d {
                    width: self.cols,
                    height: self.rows,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::R32Float,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            });
            let params = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("alpha heatmap params"),
                size: 32,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
            let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("alpha heatmap"),
                layout: &hp.layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: params.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: wgpu::BindingResource::TextureView(&view),
                    },
                ],
            });
            hp.slots.insert(
                self.key,
                Slot {
                    dims,
                    texture,
                    params,
                    bind_group,
                },
            );
        }
        let Some(slot) = hp.slots.get(&self.key) else {
            return Vec::new();
        };
        let bytes: Vec<u8> = self.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        queue.write_texture(
            slot.texture.as_image_copy(),
            &bytes,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(4 * self.cols),
                rows_per_image: Some(self.rows),
            },
            wgpu::Extent3d {
                width: self.cols,
                height: self.rows,
                depth_or_array_layers: 1,
            },
        );
        let mut p = Vec::with_capacity(32);
        p.extend_from_slice(&self.rows.to_le_bytes());
        p.extend_from_slice(&self.cols.to_le_bytes());
        p.extend_from_slice(&self.range.min.to_le_bytes());
        p.extend_from_slice(&self.range.max.to_le_bytes());
        p.extend_from_slice(&(self.linear_out as u32).to_le_bytes());
        p.extend_from_slice(&self.gap.to_le_bytes());
        p.extend_from_slice(&self.size_px[0].to_le_bytes());
        p.extend_from_slice(&self.size_px[1].to_le_bytes());
        queue.write_buffer(&slot.params, 0, &p);
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &CallbackResources,
    ) {
        let Some(hp) = resources.get::<HeatmapPipeline>() else {
            return;
        };
        let Some(slot) = hp.slots.get(&self.key) else {
            return;
        };
        pass.set_pipeline(&hp.pipeline);
        pass.set_bind_group(0, &slot.bind_group, &[]);
        pass.draw(0..4, 0..1);
    }
}

/// How the heatmaps are drawn in this window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renderer {
    /// By `shaders/colormap.wgsl`; `linear_out` when the target format is sRGB.
    Gpu {
        linear_out: bool,
    },
    Cpu,
}

/// What a heatmap shows.
pub struct Heatmap<'a> {
    /// Distinct per heatmap on screen.
    pub key: u64,
    /// Its accessible name.
    pub label: &'a str,
    pub rows: &'a [Vec<f32>],
    pub row_labels: Vec<String>,
    pub col_labels: Vec<String>,
    pub range: ValueRange,
}

/// Gap between cells in points.
const GAP: f32 = 1.0;

/// Draws the heatmap with row and column labels; returns the rect of the cells.
pub fn show(ui: &mut Ui, h: &Heatmap<'_>, renderer: Renderer) -> Rect {
    let rows = h.rows.len();
    let cols = h.rows.iter().map(Vec::len).max().unwrap_or(0);
    let label_w = 64.0;
    let head_h = 16.0;
    let cell = Vec2::new(
        ((ui.available_width() - label_w) / cols.max(1) as f32).clamp(14.0, 40.0),
        if rows <= 8 { 20.0 } else { 15.0 },
    );
    let size = Vec2::new(
        label_w + cell.x * cols as f32,
        head_h + cell.y * rows as f32,
    );
    let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
    let cells = Rect::from_min_size(
        rect.min + Vec2::new(label_w, head_h),
        Vec2::new(cell.x * cols as f32, cell.y * rows as f32),
    );
    if rows == 0 || cols == 0 {
        return cells;
    }
    let painter = ui.painter_at(rect);
    let weak = ui.visuals().weak_text_color();
    for (c, l) in h.col_labels.iter().enumerate() {
        painter.text(
            Pos2::new(cells.left() + (c as f32 + 0.5) * cell.x, rect.top()),
            Align2::CENTER_TOP,
            l,
            FontId::proportional(10.0),
            weak,
        );
    }
    for (r, l) in h.row_labels.iter().enumerate() {
        painter.text(
            Pos2::new(cells.left() - 4.0, cells.top() + (r as f32 + 0.5) * cell.y),
            Align2::RIGHT_CENTER,
            l,
            FontId::proportional(10.0),
            weak,
        );
    }
    let value = |r: usize, c: usize| {
        h.rows
            .get(r)
            .and_then(|row| row.get(c))
            .copied()
            .unwrap_or(f32::NAN)
    };
    match renderer {
        Renderer::Gpu { linear_out } => {
            let ppp = ui.ctx().pixels_per_point();
            let values = (0..rows)
                .flat_map(|r| (0..cols).map(move |c| (r, c)))
                .map(|(r, c)| value(r, c))
                .collect();
            painter.add(egui_wgpu::Callback::new_paint_callback(
                cells,
                HeatmapCallback {
                    key: h.key,
                    rows: rows as u32,
                    cols: cols as u32,
                    values,
                    range: h.range,
                    linear_out,
                    gap: GAP * ppp,
                    size_px: [cells.width() * ppp, cells.height() * ppp],
                },
            ));
        }
        Renderer::Cpu => {
            for r in 0..rows {
                for c in 0..cols {
                    let min = cells.min + Vec2::new(c as f32 * cell.x, r as f32 * cell.y);
                    let rc = Rect::from_min_max(min + Vec2::splat(GAP), min + cell);
                    painter.rect_filled(rc, 0.0, scale_color(h.range.unit(value(r, c))));
                }
            }
        }
    }
    // Hovering a cell shows its number; the cells carry the heatmap's accessible name.
    let resp = ui.interact(cells, egui::Id::unique(("heatmap", h.key)), Sense::hover());
    resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, h.label));
    if let Some(p) = resp.hover_pos() {
        let c = (((p.x - cells.left()) / cell.x) as usize).min(cols - 1);
        let r = (((p.y - cells.top()) / cell.y) as usize).min(rows - 1);
        resp.on_hover_text_at_pointer(format!(
            "{} · {}: {:.4}",
            h.row_labels.get(r).map_or("", String::as_str),
            h.col_labels.get(c).map_or("", String::as_str),
            value(r, c)
        ));
    }
    cells
}
