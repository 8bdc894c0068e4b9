//! Files between the user's machine and the page. A run chosen as a zip or as a folder is
//! unpacked among the page's runs ([`crate::run::archive`]); the NAS-Bench-201 table is kept
//! beside them; a run leaves as a zip download. The choosers are hidden `<input type=file>`
//! elements that the studio's buttons click ([`PageHost`]); what they bring arrives at the
//! next frame ([`take_arrived`]).

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::HtmlInputElement;

use crate::lookup::Nb201Table;
use crate::run::archive;
use crate::studio::host::{Host, Upload};
use crate::studio::panels::runs::RUNS_DIR;

/// Where a table the user loaded is kept (and found again after a reload).
pub const TABLE_PATH: &str = "nb201-table.csv";

/// What a chooser brought: a run unpacked among the page's runs, or the stored table.
pub enum Arrived {
    Run(PathBuf),
    Table(PathBuf),
}

thread_local! {
    static ARRIVED: RefCell<Vec<Result<Arrived, String>>> = const { RefCell::new(Vec::new()) };
}

/// What arrived since the last call (errors name the file and the fault).
pub fn take_arrived() -> Vec<Result<Arrived, String>> {
    ARRIVED.with(|a| std::mem::take(&mut *a.borrow_mut()))
}

fn input_id(what: Upload) -> &'static str {
    match what {
        Upload::RunZip => "darts-pt-open-zip",
        Upload::RunFolder => "darts-pt-open-folder",
        Upload::Table => "darts-pt-open-table",
    }
}

fn input(what: Upload) -> Option<HtmlInputElement> {
    web_sys::window()?
        .document()?
        .get_element_by_id(input_id(what))?
        .dyn_into()
        .ok()
}

/// The page's side of the studio's uploads and downloads.
#[derive(Debug)]
pub struct PageHost;

impl Host for PageHost {
    fn choose(&self, what: Upload) {
        // The click that asked is moments old: the browser still counts it as the user's.
        if let Some(i) = input(what) {
            i.click();
        }
    }

    fn download(&self, dir: &Path) -> Result<(), String> {
        let zip = archive::pack(dir).map_err(|e| format!("{e:#}"))?;
        let name = dir
            .file_name()
            .map_or("run".into(), |n| n.to_string_lossy());
        offer(&format!("{name}.zip"), &zip).map_err(|e| super::page::js_error(&e))
    }
}

/// Hands `bytes` to the browser as a download named `name`.
fn offer(name: &str, bytes: &[u8]) -> Result<(), JsValue> {
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let parts = js_sys::Array::of1(&Uint8Array::from(bytes));
    let kind = web_sys::BlobPropertyBag::new();
    kind.set_type("application/zip");
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &kind)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)?;
    let a: web_sys::HtmlAnchorElement = doc.create_element("a")?.unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.click();
    // The download reads the blob after this returns; free it a while later.
    wasm_bindgen_futures::spawn_local(async move {
        crate::job::pace::sleep_ms(60_000).await;
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    Ok(())
}

/// Adds the hidden choosers to the page.
pub fn install() -> Result<(), JsValue> {
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let body = doc.body().ok_or("no body")?;
    for what in [Upload::RunZip, Upload::RunFolder, Upload::Table] {
        let input: HtmlInputElement = doc.create_element("input")?.unchecked_into();
        input.set_type("file");
        input.set_id(input_id(what));
        input.set_hidden(true);
        match what {
            Upload::RunZip => input.set_accept(".zip,application/zip"),
            Upload::RunFolder => input.set_attribute("webkitdirectory", "")?,
            Upload::Table => input.set_accept(".csv,text/csv"),
        }
        let el = input.clone();
        let on_change = Closure::<dyn FnMut()>::new(move || {
            wasm_bindgen_futures::spawn_local(receive(what, el.clone()));
        });
        input.set_onchange(Some(on_change.as_ref().unchecked_ref()));
        // The page's choosers live as long as the page.
        on_change.forget();
        body.append_child(&input)?;
    }
    Ok(())
}

/// Reads what was chosen and makes it a run or the table.
async fn receive(what: Upload, input: HtmlInputElement) {
    let result = match read_chosen(&input).await {
        Ok(files) if files.is_empty() => return,
        Ok(files) => arrive(what, files),
        Err(e) => Err(format!(
            "cannot read the chosen file: {}",
            super::page::js_error(&e)
        )),
    };
    // Choosing the same file again must fire `change` again.
    input.set_value("");
    ARRIVED.with(|a| a.borrow_mut().push(result));
    super::repaint();
}

/// The chosen files: (path within the chosen folder, or the file's name; its bytes).
async fn read_chosen(input: &HtmlInputElement) -> Result<Vec<(String, Vec<u8>)>, JsValue> {
    let Some(list) = input.files() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for file in (0..list.length()).filter_map(|i| list.get(i)) {
        // Set for a folder's files ("run/config.toml"); web-sys does not bind it.
        let rel = js_sys::Reflect::get(&file, &"webkitRelativePath".into())?
            .as_string()
            .unwrap_or_default();
        let name = if rel.is_empty() { file.name() } else { rel };
        let buf = JsFuture::from(file.array_buffer()).await?;
        out.push((name, Uint8Array::new(&buf).to_vec()));
    }
    Ok(out)
}

fn arrive(what: Upload, mut files: Vec<(String, Vec<u8>)>) -> Result<Arrived, String> {
    let runs = Path::new(RUNS_DIR);
    match what {
        Upload::RunZip => {
            let (name, bytes) = files.swap_remove(0);
            let stem = name.strip_suffix(".zip").unwrap_or(&name);
            archive::unpack(&bytes, runs, stem)
                .map(Arrived::Run)
                .map_err(|e| format!("{name}: {e:#}"))
        }
        Upload::RunFolder => {
            let top = files[0].0.split('/').next().unwrap_or("run").to_string();
            archive::unpack_files(files, runs, "run")
                .map(Arrived::Run)
                .map_err(|e| format!("folder {top}: {e:#}"))
        }
        Upload::Table => {
            let (name, bytes) = files.swap_remove(0);
            let text = String::from_utf8_lossy(&bytes);
            // A table that does not parse is refused here, with its fault, and not kept.
            Nb201Table::from_csv(&text, Path::new(&name)).map_err(|e| e.to_string())?;
            crate::storage::write(Path::new(TABLE_PATH), &bytes)
                .map_err(|e| format!("cannot keep {name}: {e}"))?;
            Ok(Arrived::Table(PathBuf::from(TABLE_PATH)))
        }
    }
}
