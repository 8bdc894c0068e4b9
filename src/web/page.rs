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

/// Offers `bytes` to the user as a download named `name`.
pub fn download(name: &str, bytes: &[u8]) -> Result<(), String> {
    let err = |e: wasm_bindgen::JsValue| format!("cannot download {name}: {e:?}");
    let array = js_sys::Uint8Array::from(bytes);
    let parts = js_sys::Array::of1(&array);
    let blob = web_sys::Blob::new_with_u8_array_sequence(&parts).map_err(err)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(err)?;
    let doc = document().ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement = doc
        .create_element("a")
        .map_err(err)?
        .dyn_into()
        .map_err(|_| "no anchor element".to_string())?;
    a.set_href(&url);
    a.set_download(name);
    a.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}
