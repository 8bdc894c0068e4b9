//! The page around the canvas: its address's parameters, the error banner and the result
//! element that automation reads. Plain DOM, so they work even when the canvas cannot.

use wasm_bindgen::JsCast;
use web_sys::{Document, HtmlElement};

/// The id of the element that holds the demo's result as JSON.
pub const RESULT_ID: &str = "darts-pt-result";

fn document() -> Option<Document> {
    web_sys::window()?.document()
}

/// A parameter of the page's address (`?demo=tiny&backend=cpu`).
pub fn param(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get(name)
}

/// Puts `json` into `<pre id="darts-pt-result">`, creating it.
pub fn set_result(json: &str) {
    let Some(doc) = document() else { return };
    let el = match doc.get_element_by_id(RESULT_ID) {
        Some(el) => el,
        None => {
            let Ok(el) = doc.create_element("pre") else {
                return;
            };
            el.set_id(RESULT_ID);
            if let Some(body) = doc.body() {
                let _ = body.append_child(&el);
            }
            el
        }
    };
    el.set_text_content(Some(json));
}

/// Shows an error above the canvas (and in the console).
pub fn show_error(message: &str) {
    web_sys::console::error_1(&message.into());
    let Some(doc) = document() else { return };
    if let Some(el) = doc.get_element_by_id("darts-pt-error")
        && let Ok(el) = el.dyn_into::<HtmlElement>()
    {
        el.set_text_content(Some(message));
        let _ = el.style().set_property("display", "block");
    }
}

/// Hides the error banner (what went wrong has been put right).
pub fn clear_error() {
    if let Some(el) = document().and_then(|d| d.get_element_by_id("darts-pt-error"))
        && let Ok(el) = el.dyn_into::<HtmlElement>()
    {
        let _ = el.style().set_property("display", "none");
    }
}

/// Hides the loading note once the studio draws.
pub fn loaded() {
    if let Some(el) = document().and_then(|d| d.get_element_by_id("darts-pt-loading"))
        && let Ok(el) = el.dyn_into::<HtmlElement>()
    {
        let _ = el.style().set_property("display", "none");
    }
}

/// The canvas the studio draws on.
pub fn canvas() -> Result<web_sys::HtmlCanvasElement, String> {
    document()
        .and_then(|d| d.get_element_by_id("darts-pt-canvas"))
        .and_then(|c| c.dyn_into().ok())
        .ok_or_else(|| "the page has no <canvas id=\"darts-pt-canvas\">".to_string())
}

/// What a JavaScript error says.
pub fn js_error(e: &wasm_bindgen::JsValue) -> String {
    e.as_string()
        .or_else(|| js_sys::Reflect::get(e, &"message".into()).ok()?.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}
