//! Runs made in the page outlive it: the in-memory file tree ([`crate::storage::memory`]) is
//! mirrored to the browser's origin-private file system. Each file is one entry there, named
//! by its escaped path, and `index.json` lists the paths. A reload reads them all back before
//! the studio starts, so an interrupted search resumes from its last checkpoint.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::PathBuf;

use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{FileSystemDirectoryHandle, FileSystemFileHandle, FileSystemWritableFileStream};

use crate::storage::memory;

const INDEX: &str = "index.json";

thread_local! {
    /// The paths stored now.
    static STORED: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };
}

fn js(e: JsValue) -> String {
    super::page::js_error(&e)
}

/// `runs/a.txt` -> `runs%2Fa.txt`: one flat name per path.
fn entry_name(path: &str) -> String {
    path.replace('%', "%25").replace('/', "%2F")
}

async fn root() -> Result<FileSystemDirectoryHandle, String> {
    let window = web_sys::window().ok_or("no window")?;
    let dir = JsFuture::from(window.navigator().storage().get_directory())
        .await
        .map_err(|e| format!("the browser offers no storage for runs: {}", js(e)))?;
    Ok(dir.unchecked_into())
}

async fn read_entry(dir: &FileSystemDirectoryHandle, name: &str) -> Result<Vec<u8>, String> {
    let handle: FileSystemFileHandle = JsFuture::from(dir.get_file_handle(name))
        .await
        .map_err(js)?
        .unchecked_into();
    let file: web_sys::File = JsFuture::from(handle.get_file())
        .await
        .map_err(js)?
        .unchecked_into();
    let buf = JsFuture::from(file.array_buffer()).await.map_err(js)?;
    Ok(Uint8Array::new(&buf).to_vec())
}

async fn write_entry(
    dir: &FileSystemDirectoryHandle,
    name: &str,
    bytes: &[u8],
) -> Result<(), String> {
    let opts = web_sys::FileSystemGetFileOptions::new();
    opts.set_create(true);
    let handle: FileSystemFileHandle =
        JsFuture::from(dir.get_file_handle_with_options(name, &opts))
            .await
            .map_err(js)?
            .unchecked_into();
    // The browser writes to a swap file and replaces the entry on close: never a torn file.
    let stream: FileSystemWritableFileStream = JsFuture::from(handle.create_writable())
        .await
        .map_err(js)?
        .unchecked_into();
    let array = Uint8Array::from(bytes);
    JsFuture::from(stream.write_with_buffer_source(&array).map_err(js)?)
        .await
        .map_err(js)?;
    JsFuture::from(stream.close()).await.map_err(js)?;
    Ok(())
}

/// Reads every stored file into memory; returns how many.
pub async fn load() -> Result<usize, String> {
    let dir = root().await?;
    let Ok(index) = read_entry(&dir, INDEX).await else {
        return Ok(0);
    };
    let paths: Vec<String> = serde_json::from_slice(&index).unwrap_or_default();
    let mut n = 0;
    for p in paths {
        if let Ok(bytes) = read_entry(&dir, &entry_name(&p)).await {
            memory::restore(PathBuf::from(&p), bytes);
            STORED.with(|s| s.borrow_mut().insert(p));
            n += 1;
        }
    }
    Ok(n)
}

/// Writes what changed in memory since the last call; jobs wait meanwhile.
pub async fn flush() -> Result<(), String> {
    let changes = memory::take_changes();
    if changes.is_empty() {
        return Ok(());
    }
    memory::set_mirroring(true);
    let done = write_changes(changes).await;
    memory::set_mirroring(false);
    done
}

async fn write_changes(changes: Vec<(PathBuf, Option<Vec<u8>>)>) -> Result<(), String> {
    let dir = root().await?;
    for (path, bytes) in changes {
        let p = path.to_string_lossy().into_owned();
        match bytes {
            Some(b) => {
                write_entry(&dir, &entry_name(&p), &b).await?;
                STORED.with(|s| s.borrow_mut().insert(p));
            }
            None => {
                let _ = JsFuture::from(dir.remove_entry(&entry_name(&p))).await;
                STORED.with(|s| s.borrow_mut().remove(&p));
            }
        }
    }
    let index = STORED.with(|s| serde_json::to_vec(&*s.borrow()).unwrap_or_default());
    write_entry(&dir, INDEX, &index).await
}

/// Flushes every half second, for as long as the page lives.
pub async fn keep_flushing() {
    loop {
        crate::job::pace::sleep_ms(500).await;
        if let Err(e) = flush().await {
            web_sys::console::warn_1(&format!("darts-pt: cannot store runs: {e}").into());
        }
    }
}

/// Runs that were running when the page went away (a closed tab, a reload) are interrupted:
/// the page is the only thing that ran them. They then offer to resume from their last
/// checkpoint, as after a cancel.
pub fn interrupt_orphans(runs: &std::path::Path) -> usize {
    use crate::run::{RunDir, RunReader, RunState};
    let Ok(entries) = crate::storage::read_dir(runs) else {
        return 0;
    };
    let mut n = 0;
    for e in entries.into_iter().filter(|e| e.is_dir) {
        let dir = runs.join(&e.name);
        let Ok(Some(mut status)) = RunReader::local(&dir).status() else {
            continue;
        };
        if status.state == RunState::Running {
            status.state = RunState::Interrupted;
            if RunDir::new(&dir).write_status(&status).is_ok() {
                n += 1;
            }
        }
    }
    n
}
