//! Giving the host its turn. Natively a job's driver owns its thread and never needs this; in
//! a browser the job shares the page's only thread, so its driver hands control back to the
//! event loop (frames, input, WebGPU's readbacks) between slices of steps.

/// Resolves after `ms` milliseconds, through the page's timer: a macrotask, so the browser
/// paints and delivers events before the job goes on.
#[cfg(target_arch = "wasm32")]
pub async fn sleep_ms(ms: i32) {
    use wasm_bindgen::JsCast;
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let global = js_sys::global().unchecked_into::<web_sys::Window>();
        let _ = global.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Lets the page finish storing changed files first (see
/// [`crate::storage::memory::set_mirroring`]).
#[cfg(target_arch = "wasm32")]
pub async fn give_way() {
    while crate::storage::memory::is_mirroring() {
        sleep_ms(2).await;
    }
}

/// How long work outside the host's event loop keeps the page's thread at a time: about a
/// frame.
pub const SLICE: web_time::Duration = web_time::Duration::from_millis(12);

/// Paces a loop that runs on the page's thread: [`Pace::breathe`] after each unit of work
/// gives the page its turn once a [`SLICE`] has passed. Natively it never waits.
pub struct Pace(
    /// When the current slice began (only a page reads it).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    web_time::Instant,
);

impl Default for Pace {
    fn default() -> Self {
        Pace(web_time::Instant::now())
    }
}

impl Pace {
    pub async fn breathe(&mut self) {
        #[cfg(target_arch = "wasm32")]
        if self.0.elapsed() >= SLICE {
            sleep_ms(0).await;
            give_way().await;
            self.0 = web_time::Instant::now();
        }
    }
}
