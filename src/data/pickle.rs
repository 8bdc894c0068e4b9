//! The pieces of a pickled Python dict that the CIFAR "python version" files hold: byte or text
//! keys, lists of integers and strings, and one numpy uint8 array.
//!
//! A numpy array pickles as a call to a numpy function plus a state tuple. The decoder keeps the
//! call's arguments and replaces the object by its state, so an array arrives as either
//! `(version, shape, dtype, is_fortran, raw_bytes)` (the state of `_reconstruct`, protocols 0-4)
//! or `(buffer, dtype, shape, order)` (the arguments of `_frombuffer`, protocol 5).

use super::error::DataError;
use serde_pickle::{DeOptions, HashableValue, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// A decoded top-level dict.
pub(crate) struct PickleDict {
    map: BTreeMap<HashableValue, Value>,
}

impl PickleDict {
    /// Decodes `bytes`, which must hold a pickled dict.
    pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<PickleDict, DataError> {
        let options = DeOptions::new()
            .keep_restore_state()
            .replace_unresolved_globals()
            .replace_recursive_structures();
        let value = serde_pickle::value_from_slice(bytes, options)
            .map_err(|e| DataError::malformed(path, format!("cannot read the pickle: {e}")))?;
        match value {
            Value::Dict(map) => Ok(PickleDict { map }),
            other => Err(DataError::malformed(
                path,
                format!("the pickle holds {}, not a dict", type_name(&other)),
            )),
        }
    }

    /// Removes the entry under `key`, written either as bytes (Python 2 files) or text.
    pub(crate) fn take(&mut self, key: &str) -> Option<Value> {
        self.map
            .remove(&HashableValue::Bytes(key.as_bytes().to_vec()))
            .or_else(|| self.map.remove(&HashableValue::String(key.to_string())))
    }

    /// Like [`PickleDict::take`], but a missing key is an error naming the key.
    pub(crate) fn require(&mut self, key: &str, path: &Path) -> Result<Value, DataError> {
        self.take(key)
            .ok_or_else(|| DataError::malformed(path, format!("the pickled dict has no '{key}'")))
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::None => "None",
        Value::Bool(_) => "a bool",
        Value::I64(_) | Value::Int(_) => "an int",
        Value::F64(_) => "a float",
        Value::Bytes(_) => "bytes",
        Value::String(_) => "a str",
        Value::List(_) => "a list",
        Value::Tuple(_) => "a tuple",
        Value::Set(_) | Value::FrozenSet(_) => "a set",
        Value::Dict(_) => "a dict",
    }
}

/// A list (or tuple) of integers.
pub(crate) fn int_list(value: Value, key: &str, path: &Path) -> Result<Vec<i64>, DataError> {
    let items = match value {
        Value::List(items) | Value::Tuple(items) => items,
        other => {
            return Err(DataError::malformed(
                path,
                format!("'{key}' is {}, not a list of integers", type_name(&other)),
            ));
        }
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::I64(n) => Ok(n),
            other => Err(DataError::malformed(
                path,
                format!("'{key}'[{i}] is {}, not an integer", type_name(&other)),
            )),
        })
        .collect()
}

/// A list of byte or text strings, as UTF-8 text.
pub(crate) fn string_list(value: Value, key: &str, path: &Path) -> Result<Vec<String>, DataError> {
    let Value::List(items) = value else {
        return Err(DataError::malformed(
            path,
            format!("'{key}' is {}, not a list of strings", type_name(&value)),
        ));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => Ok(s),
            Value::Bytes(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
            other => Err(DataError::malformed(
                path,
                format!("'{key}'[{i}] is {}, not a string", type_name(&other)),
            )),
        })
        .collect()
}

/// A C-ordered numpy uint8 array: its shape and raw bytes.
pub(crate) fn u8_array(
    value: Value,
    key: &str,
    path: &Path,
) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let bad = |what: &str| DataError::malformed(path, format!("'{key}' {what}"));
    let (shape, data, c_order) = match value {
        Value::Tuple(items) if items.len() == 5 => {
            let mut it = items.into_iter();
            let (_version, shape, _dtype, fortran, data) =
                (it.next(), it.next(), it.next(), it.next(), it.next());
            (shape, data, matches!(fortran, Some(Value::Bool(false))))
        }
        Value::Tuple(items) if items.len() == 4 && matches!(items[0], Value::Bytes(_)) => {
            let mut it = items.into_iter();
            let (data, _dtype, shape, order) = (it.next(), it.next(), it.next(), it.next());
            let c_order = match order {
                Some(Value::String(s)) => s == "C",
                Some(Value::Bytes(b)) => b == b"C",
                _ => false,
            };
            (shape, data, c_order)
        }
        other => {
            return Err(bad(&format!(
                "is {}, not a pickled numpy array",
                type_name(&other)
            )));
        }
    };
    if !c_order {
        return Err(bad("is not a C-ordered numpy array"));
    }
    let shape = match shape {
        Some(Value::Tuple(dims)) => dims
            .into_iter()
            .map(|d| match d {
                Value::I64(n) if n >= 0 => Ok(n as usize),
                _ => Err(bad("has a malformed shape")),
            })
            .collect::<Result<Vec<usize>, _>>()?,
        _ => return Err(bad("has no shape tuple")),
    };
    let Some(Value::Bytes(data)) = data else {
        return Err(bad("has no raw data bytes"));
    };
    let elements = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad("has an absurd shape"))?;
    if data.len() != elements {
        return Err(bad(&format!(
            "has shape {shape:?} but {} data bytes; expected a uint8 array",
            data.len()
        )));
    }
    Ok((shape, data))
}

#[cfg(test)]
pub(crate) mod tests {
    //! Pickles built byte by byte the way CPython and numpy write them, so the reader is checked
    //! against the real wire format without Python being installed.

    use std::collections::HashMap;

    /// Opcode-level writer for the subset of pickle the CIFAR files use.
    pub(crate) struct Writer {
        pub(crate) out: Vec<u8>,
        memo: u32,
        /// Objects CPython writes once and then refers to by memo index: globals and interned
        /// strings (module names, the codec name 'latin1').
        shared: HashMap<String, u32>,
        /// Python 2 wrote `str` as SHORT_BINSTRING/BINSTRING; Python 3 writes text as
        /// (SHORT_)BINUNICODE and `bytes` either as (SHORT_)BINBYTES (protocol 3+) or, at
        /// protocol 2, as a call to `_codecs.encode(latin1_text, 'latin1')`.
        pub(crate) style: Style,
    }

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub(crate) enum Style {
        /// What Python 2 + numpy wrote for the official CIFAR files (protocol 2).
        Python2,
        /// Python 3 + numpy at protocol 2.
        Python3Proto2,
        /// Python 3 + numpy at protocol 4 (framed, memoized with MEMOIZE).
        Python3Proto4,
        /// Python 3 + numpy at protocol 5, where arrays go through `_frombuffer`.
        Python3Proto5,
    }

    impl Writer {
        pub(crate) fn new(style: Style) -> Writer {
            let proto = match style {
                Style::Python2 | Style::Python3Proto2 => 2,
                Style::Python3Proto4 => 4,
                Style::Python3Proto5 => 5,
            };
            Writer {
                out: vec![0x80, proto],
                memo: 0,
                shared: HashMap::new(),
                style,
            }
        }

        fn framed(&self) -> bool {
            matches!(self.style, Style::Python3Proto4 | Style::Python3Proto5)
        }

        pub(crate) fn put(&mut self) {
            if self.framed() {
                self.out.push(0x94); // MEMOIZE
            } else if self.memo < 256 {
                self.out.extend_from_slice(&[b'q', self.memo as u8]); // BINPUT
            } else {
                self.out.push(b'r'); // LONG_BINPUT
                self.out.extend_from_slice(&self.memo.to_le_bytes());
            }
            self.memo += 1;
        }

        /// Emits a memo reference to `key` if it was written before, else writes it with `emit`.
        fn shared(&mut self, key: String, emit: impl FnOnce(&mut Writer)) {
            if let Some(&index) = self.shared.get(&key) {
                if index < 256 {
                    self.out.extend_from_slice(&[b'h', index as u8]); // BINGET
                } else {
                    self.out.push(b'j'); // LONG_BINGET
                    self.out.extend_from_slice(&index.to_le_bytes());
                }
                return;
            }
            emit(self);
            self.shared.insert(key, self.memo - 1);
        }

        fn interned(&mut self, s: &str) {
            self.shared(format!("str:{s}"), |w| w.text(s));
        }

        pub(crate) fn int(&mut self, n: i64) {
            if (0..256).contains(&n) {
                self.out.extend_from_slice(&[b'K', n as u8]); // BININT1
            } else if (0..65536).contains(&n) {
                self.out.push(b'M'); // BININT2
                self.out.extend_from_slice(&(n as u16).to_le_bytes());
            } else {
                self.out.push(b'J'); // BININT
                self.out.extend_from_slice(&(n as i32).to_le_bytes());
            }
        }

        /// A Python `str` (text), which Python 2 stores as a byte string.
        pub(crate) fn text(&mut self, s: &str) {
            let b = s.as_bytes();
            match (self.style, b.len() < 256) {
                (Style::Python2, true) => {
                    self.out.extend_from_slice(&[b'U', b.len() as u8]);
                }
                (Style::Python2, false) => {
                    self.out.push(b'T');
                    self.out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                }
                (_, true) if self.framed() => {
                    self.out.extend_from_slice(&[0x8c, b.len() as u8]); // SHORT_BINUNICODE
                }
                _ => {
                    self.out.push(b'X'); // BINUNICODE
                    self.out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                }
            }
            self.out.extend_from_slice(b);
            self.put();
        }

        /// A Python `bytes` object (a Python 2 `str`).
        pub(crate) fn bytes(&mut self, b: &[u8]) {
            match self.style {
                Style::Python2 => {
                    // Python 2 str: same opcodes as text, the payload taken verbatim.
                    if b.len() < 256 {
                        self.out.extend_from_slice(&[b'U', b.len() as u8]);
                    } else {
                        self.out.push(b'T');
                        self.out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                    }
                    self.out.extend_from_slice(b);
                    self.put();
                }
                Style::Python3Proto2 => {
                    // _codecs.encode(b.decode('latin1'), 'latin1')
                    self.global("_codecs", "encode");
                    let latin1: String = b.iter().map(|&c| c as char).collect();
                    self.text(&latin1);
                    self.interned("latin1");
                    self.out.push(0x86); // TUPLE2
                    self.put();
                    self.out.push(b'R'); // REDUCE
                    self.put();
                }
                Style::Python3Proto4 | Style::Python3Proto5 => {
                    if b.len() < 256 {
                        self.out.extend_from_slice(&[b'C', b.len() as u8]); // SHORT_BINBYTES
                    } else {
                        self.out.push(b'B'); // BINBYTES
                        self.out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                    }
                    self.out.extend_from_slice(b);
                    self.put();
                }
            }
        }

        pub(crate) fn global(&mut self, module: &str, name: &str) {
            self.shared(format!("global:{module}.{name}"), |w| {
                if w.framed() {
                    w.interned(module);
                    w.interned(name);
                    w.out.push(0x93); // STACK_GLOBAL
                } else {
                    w.out.push(b'c'); // GLOBAL
                    w.out
                        .extend_from_slice(format!("{module}\n{name}\n").as_bytes());
                }
                w.put();
            });
        }

        /// A dict key: Python 2 `str` keys, or the `bytes` keys the brief's readers look up.
        pub(crate) fn key(&mut self, k: &str) {
            match self.style {
                Style::Python2 => self.text(k),
                _ => self.bytes(k.as_bytes()),
            }
        }

        /// `numpy.dtype('u1', False, True)` with its `__setstate__` state.
        fn dtype_u1(&mut self) {
            self.global("numpy", "dtype");
            self.text("u1");
            self.out.push(0x89); // NEWFALSE
            self.out.push(0x88); // NEWTRUE
            self.out.push(0x87); // TUPLE3
            self.put();
            self.out.push(b'R');
            self.put();
            self.out.push(b'('); // MARK
            self.int(3);
            self.text("|");
            self.out.extend_from_slice(b"NNN"); // NONE ×3
            self.int(-1);
            self.int(-1);
            self.int(0);
            self.out.push(b't'); // TUPLE
            self.put();
            self.out.push(b'b'); // BUILD
        }

        /// A C-ordered uint8 array of the given shape, as numpy pickles it.
        pub(crate) fn u8_array(&mut self, shape: &[usize], data: &[u8]) {
            if self.style == Style::Python3Proto5 {
                // _frombuffer(bytearray(data), dtype, shape, 'C'): four arguments, so MARK..TUPLE.
                self.global("numpy.core.numeric", "_frombuffer");
                self.out.push(b'(');
                self.out.push(0x96); // BYTEARRAY8
                self.out
                    .extend_from_slice(&(data.len() as u64).to_le_bytes());
                self.out.extend_from_slice(data);
                self.put();
                self.dtype_u1();
                self.shape(shape);
                self.text("C");
                self.out.push(b't');
                self.put();
                self.out.push(b'R');
                self.put();
                return;
            }
            self.global("numpy.core.multiarray", "_reconstruct");
            self.global("numpy", "ndarray");
            self.int(0);
            self.out.push(0x85); // TUPLE1
            self.put();
            self.bytes(b"b");
            self.out.push(0x87); // TUPLE3
            self.put();
            self.out.push(b'R');
            self.put();
            self.out.push(b'(');
            self.int(1);
            self.shape(shape);
            self.dtype_u1();
            self.out.push(0x89); // is_fortran = False
            self.bytes(data);
            self.out.push(b't');
            self.put();
            self.out.push(b'b');
        }

        fn shape(&mut self, shape: &[usize]) {
            if shape.len() == 2 {
                self.int(shape[0] as i64);
                self.int(shape[1] as i64);
                self.out.push(0x86);
            } else {
                self.out.push(b'(');
                for &d in shape {
                    self.int(d as i64);
                }
                self.out.push(b't');
            }
            self.put();
        }

        pub(crate) fn int_list(&mut self, values: &[i64]) {
            self.out.push(b']'); // EMPTY_LIST
            self.put();
            // CPython batches APPENDS in groups of 1000, and uses APPEND for a lone item.
            for chunk in values.chunks(1000) {
                if let [v] = chunk {
                    self.int(*v);
                    self.out.push(b'a'); // APPEND
                    continue;
                }
                self.out.push(b'(');
                for &v in chunk {
                    self.int(v);
                }
                self.out.push(b'e'); // APPENDS
            }
        }

        pub(crate) fn text_list(&mut self, values: &[&str]) {
            self.out.push(b']');
            self.put();
            self.out.push(b'(');
            for v in values {
                self.text(v);
            }
            self.out.push(b'e');
        }

        pub(crate) fn bytes_list(&mut self, values: &[&str]) {
            self.out.push(b']');
            self.put();
            self.out.push(b'(');
            for v in values {
                self.bytes(v.as_bytes());
            }
            self.out.push(b'e');
        }

        pub(crate) fn begin_dict(&mut self) {
            self.out.push(b'}'); // EMPTY_DICT
            self.put();
            self.out.push(b'(');
        }

        pub(crate) fn end_dict(&mut self) {
            self.out.push(b'u'); // SETITEMS
        }

        pub(crate) fn finish(mut self) -> Vec<u8> {
            self.out.push(b'.'); // STOP
            if self.framed() {
                // One FRAME covering everything after the PROTO header.
                let body = self.out.split_off(2);
                self.out.push(0x95);
                self.out
                    .extend_from_slice(&(body.len() as u64).to_le_bytes());
                self.out.extend_from_slice(&body);
            }
            self.out
        }
    }
}
