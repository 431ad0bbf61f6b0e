//! A minimal pickle machine for `pytorch_model.bin`: it builds a tree of values and never
//! calls anything, so a checkpoint cannot run code.
//!
//! It exists apart from the two `torch.save` formats ([`super::zip`], [`super::legacy`]) that
//! both feed it their pickles. The opcodes are named as Python's `pickletools` (and
//! candle-core's `pickle.rs`) name them; `step` is one match over those names.
use std::collections::HashMap;

// Opcodes, by the protocol that introduced them (`pickletools.opcodes`).
// Protocol 0 and 1.
const MARK: u8 = b'(';
const STOP: u8 = b'.';
const POP: u8 = b'0';
const POP_MARK: u8 = b'1';
const DUP: u8 = b'2';
const FLOAT: u8 = b'F';
const INT: u8 = b'I';
const BININT: u8 = b'J';
const BININT1: u8 = b'K';
const LONG: u8 = b'L';
const BININT2: u8 = b'M';
const NONE: u8 = b'N';
const PERSID: u8 = b'P';
const BINPERSID: u8 = b'Q';
const REDUCE: u8 = b'R';
const STRING: u8 = b'S';
const BINSTRING: u8 = b'T';
const SHORT_BINSTRING: u8 = b'U';
const UNICODE: u8 = b'V';
const BINUNICODE: u8 = b'X';
const APPEND: u8 = b'a';
const BUILD: u8 = b'b';
const GLOBAL: u8 = b'c';
const DICT: u8 = b'd';
const EMPTY_DICT: u8 = b'}';
const APPENDS: u8 = b'e';
const GET: u8 = b'g';
const BINGET: u8 = b'h';
const LONG_BINGET: u8 = b'j';
const LIST: u8 = b'l';
const EMPTY_LIST: u8 = b']';
const PUT: u8 = b'p';
const BINPUT: u8 = b'q';
const LONG_BINPUT: u8 = b'r';
const SETITEM: u8 = b's';
const TUPLE: u8 = b't';
const EMPTY_TUPLE: u8 = b')';
const SETITEMS: u8 = b'u';
const BINFLOAT: u8 = b'G';
// Protocol 2.
const PROTO: u8 = 0x80;
const NEWOBJ: u8 = 0x81;
const TUPLE1: u8 = 0x85;
const TUPLE2: u8 = 0x86;
const TUPLE3: u8 = 0x87;
const NEWTRUE: u8 = 0x88;
const NEWFALSE: u8 = 0x89;
const LONG1: u8 = 0x8a;
const LONG4: u8 = 0x8b;
// Protocol 3.
const BINBYTES: u8 = b'B';
const SHORT_BINBYTES: u8 = b'C';
// Protocol 4.
const SHORT_BINUNICODE: u8 = 0x8c;
const BINUNICODE8: u8 = 0x8d;
const BINBYTES8: u8 = 0x8e;
const EMPTY_SET: u8 = 0x8f;
const ADDITEMS: u8 = 0x90;
const FROZENSET: u8 = 0x91;
const NEWOBJ_EX: u8 = 0x92;
const STACK_GLOBAL: u8 = 0x93;
const MEMOIZE: u8 = 0x94;
const FRAME: u8 = 0x95;

#[derive(Debug, Clone, PartialEq)]
pub enum Obj {
    None,
    Bool(bool),
    Int(i64),
    /// An integer wider than 64 bits, as little-endian two's-complement bytes.
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Obj>),
    List(Vec<Obj>),
    Dict(Vec<(Obj, Obj)>),
    Global {
        module: String,
        name: String,
    },
    Reduce {
        func: Box<Obj>,
        args: Box<Obj>,
    },
    Build {
        obj: Box<Obj>,
        state: Box<Obj>,
    },
    PersId(Box<Obj>),
    Mark,
}

impl Obj {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Obj::Int(i) => Some(*i),
            Obj::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    pub fn is_global(&self, module: &str, name: &str) -> bool {
        matches!(self, Obj::Global { module: m, name: n } if m == module && n == name)
    }

    /// Strings and integers as text (storage keys are either).
    pub fn as_key(&self) -> Option<String> {
        match self {
            Obj::Str(s) => Some(s.clone()),
            Obj::Bytes(b) => Some(String::from_utf8_lossy(b).to_string()),
            Obj::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }
}

/// Where and why a pickle could not be read.
#[derive(Debug)]
pub struct PickleError {
    pub offset: usize,
    pub reason: String,
}

impl std::fmt::Display for PickleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pickle error at byte {}: {}", self.offset, self.reason)
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.data.len())
            .ok_or_else(|| {
                format!(
                    "needs {n} more bytes but the data ends {} bytes later (truncated?)",
                    self.data.len().saturating_sub(self.pos)
                )
            })?;
        let slice = &self.data[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn line(&mut self) -> Result<&'a [u8], String> {
        let rest = &self.data[self.pos..];
        let nl = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| "unterminated text argument (truncated?)".to_string())?;
        let line = &rest[..nl];
        self.pos += nl + 1;
        Ok(line)
    }

    fn len_prefixed(&mut self, len: u64) -> Result<&'a [u8], String> {
        let len = usize::try_from(len).map_err(|_| format!("length {len} is too large"))?;
        self.take(len)
    }
}

fn text(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "string is not valid UTF-8".to_string())
}

fn long_from_le(bytes: &[u8]) -> Obj {
    if bytes.is_empty() {
        return Obj::Int(0);
    }
    if bytes.len() <= 8 {
        let negative = bytes[bytes.len() - 1] & 0x80 != 0;
        let mut a = if negative { [0xffu8; 8] } else { [0u8; 8] };
        a[..bytes.len()].copy_from_slice(bytes);
        Obj::Int(i64::from_le_bytes(a))
    } else {
        Obj::BigInt(bytes.to_vec())
    }
}

/// Reads one pickle starting at `start`; returns the value and the offset after STOP.
pub fn load(data: &[u8], start: usize) -> Result<(Obj, usize), PickleError> {
    let mut r = Reader { data, pos: start };
    let mut stack: Vec<Obj> = Vec::new();
    let mut memo: HashMap<u64, Obj> = HashMap::new();
    loop {
        let op_pos = r.pos;
        let fail = |reason: String| PickleError {
            offset: op_pos,
            reason,
        };
        let op = r.u8().map_err(fail)?;
        match step(op, &mut r, &mut stack, &mut memo) {
            Ok(true) => {
                let top = stack
                    .pop()
                    .ok_or_else(|| fail("STOP with an empty stack".to_string()))?;
                return Ok((top, r.pos));
            }
            Ok(false) => {}
            Err(reason) => return Err(fail(format!("opcode 0x{op:02x}: {reason}"))),
        }
    }
}

fn pop(stack: &mut Vec<Obj>) -> Result<Obj, String> {
    stack.pop().ok_or_else(|| "stack underflow".to_string())
}

fn pop_mark(stack: &mut Vec<Obj>) -> Result<Vec<Obj>, String> {
    let mark = stack
        .iter()
        .rposition(|o| *o == Obj::Mark)
        .ok_or_else(|| "no MARK on the stack".to_string())?;
    let items = stack.split_off(mark + 1);
    stack.pop();
    Ok(items)
}

fn top(stack: &mut [Obj]) -> Result<&mut Obj, String> {
    stack
        .last_mut()
        .ok_or_else(|| "stack underflow".to_string())
}

fn set_items(dict: &mut Obj, items: Vec<Obj>) -> Result<(), String> {
    if !items.len().is_multiple_of(2) {
        return Err("odd number of items for a dict".to_string());
    }
    match dict {
        Obj::Dict(entries) => {
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                entries.push((k, v));
            }
            Ok(())
        }
        // Items set on an object we do not model: keep going, the value is ignored.
        Obj::Reduce { .. } | Obj::Build { .. } => Ok(()),
        other => Err(format!("SETITEM(S) on a {}", kind(other))),
    }
}

fn append(list: &mut Obj, items: Vec<Obj>) -> Result<(), String> {
    match list {
        Obj::List(v) => {
            v.extend(items);
            Ok(())
        }
        Obj::Reduce { .. } | Obj::Build { .. } => Ok(()),
        other => Err(format!("APPEND(S) on a {}", kind(other))),
    }
}

fn kind(o: &Obj) -> &'static str {
    match o {
        Obj::None => "None",
        Obj::Bool(_) => "bool",
        Obj::Int(_) | Obj::BigInt(_) => "int",
        Obj::Float(_) => "float",
        Obj::Str(_) => "str",
        Obj::Bytes(_) => "bytes",
        Obj::Tuple(_) => "tuple",
        Obj::List(_) => "list",
        Obj::Dict(_) => "dict",
        Obj::Global { .. } => "global",
        Obj::Reduce { .. } => "object",
        Obj::Build { .. } => "object",
        Obj::PersId(_) => "persistent id",
        Obj::Mark => "mark",
    }
}

fn memo_get(memo: &HashMap<u64, Obj>, id: u64) -> Result<Obj, String> {
    memo.get(&id)
        .cloned()
        .ok_or_else(|| format!("memo entry {id} is missing"))
}

fn memo_put(memo: &mut HashMap<u64, Obj>, stack: &[Obj], id: u64) -> Result<(), String> {
    let obj = stack.last().ok_or("stack underflow")?.clone();
    memo.insert(id, obj);
    Ok(())
}

/// One opcode; `Ok(true)` at STOP.
fn step(
    op: u8,
    r: &mut Reader<'_>,
    stack: &mut Vec<Obj>,
    memo: &mut HashMap<u64, Obj>,
) -> Result<bool, String> {
    match op {
        PROTO => {
            let proto = r.u8()?;
            if proto > 5 {
                return Err(format!("unsupported pickle protocol {proto}"));
            }
        }
        FRAME => {
            r.u64()?; // FRAME: a length hint only
        }
        STOP => return Ok(true),
        MARK => stack.push(Obj::Mark),
        POP => {
            pop(stack)?;
        }
        POP_MARK => {
            pop_mark(stack)?;
        }
        DUP => {
            let t = stack.last().ok_or("stack underflow")?.clone();
            stack.push(t);
        }
        NONE => stack.push(Obj::None),
        NEWTRUE => stack.push(Obj::Bool(true)),
        NEWFALSE => stack.push(Obj::Bool(false)),
        BININT => {
            let v = r.u32()? as i32;
            stack.push(Obj::Int(v as i64))
        }
        BININT1 => {
            let v = r.u8()?;
            stack.push(Obj::Int(v as i64))
        }
        BININT2 => {
            let v = r.u16()?;
            stack.push(Obj::Int(v as i64))
        }
        INT => {
            let line = text(r.line()?)?;
            let obj = match line.as_str() {
                "00" => Obj::Bool(false),
                "01" => Obj::Bool(true),
                s => Obj::Int(s.trim().parse().map_err(|_| format!("bad INT `{s}`"))?),
            };
            stack.push(obj)
        }
        LONG => {
            let line = text(r.line()?)?;
            let s = line.trim().trim_end_matches('L');
            stack.push(Obj::Int(s.parse().map_err(|_| format!("bad LONG `{s}`"))?))
        }
        LONG1 => {
            let n = r.u8()? as u64;
            let bytes = r.len_prefixed(n)?;
            stack.push(long_from_le(bytes))
        }
        LONG4 => {
            let n = r.u32()? as u64;
            let bytes = r.len_prefixed(n)?;
            stack.push(long_from_le(bytes))
        }
        BINFLOAT => {
            let b = r.take(8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            stack.push(Obj::Float(f64::from_be_bytes(a)))
        }
        FLOAT => {
            let line = text(r.line()?)?;
            let v = line
                .trim()
                .parse()
                .map_err(|_| format!("bad FLOAT `{line}`"))?;
            stack.push(Obj::Float(v))
        }
        BINUNICODE => {
            let n = r.u32()? as u64;
            stack.push(Obj::Str(text(r.len_prefixed(n)?)?))
        }
        SHORT_BINUNICODE => {
            let n = r.u8()? as u64;
            stack.push(Obj::Str(text(r.len_prefixed(n)?)?))
        }
        BINUNICODE8 => {
            let n = r.u64()?;
            stack.push(Obj::Str(text(r.len_prefixed(n)?)?))
        }
        UNICODE => {
            let line = r.line()?;
            stack.push(Obj::Str(String::from_utf8_lossy(line).to_string()))
        }
        BINSTRING => {
            let n = r.u32()? as u64;
            stack.push(Obj::Bytes(r.len_prefixed(n)?.to_vec()))
        }
        SHORT_BINSTRING => {
            let n = r.u8()? as u64;
            stack.push(Obj::Bytes(r.len_prefixed(n)?.to_vec()))
        }
        BINBYTES => {
            let n = r.u32()? as u64;
            stack.push(Obj::Bytes(r.len_prefixed(n)?.to_vec()))
        }
        SHORT_BINBYTES => {
            let n = r.u8()? as u64;
            stack.push(Obj::Bytes(r.len_prefixed(n)?.to_vec()))
        }
        BINBYTES8 => {
            let n = r.u64()?;
            stack.push(Obj::Bytes(r.len_prefixed(n)?.to_vec()))
        }
        STRING => {
            let line = text(r.line()?)?;
            let s = line.trim();
            let s = s
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .or_else(|| s.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                .ok_or_else(|| format!("bad STRING `{s}`"))?;
            stack.push(Obj::Str(s.to_string()))
        }
        EMPTY_TUPLE => stack.push(Obj::Tuple(Vec::new())),
        TUPLE => {
            let items = pop_mark(stack)?;
            stack.push(Obj::Tuple(items))
        }
        TUPLE1 => {
            let a = pop(stack)?;
            stack.push(Obj::Tuple(vec![a]))
        }
        TUPLE2 => {
            let b = pop(stack)?;
            let a = pop(stack)?;
            stack.push(Obj::Tuple(vec![a, b]))
        }
        TUPLE3 => {
            let c = pop(stack)?;
            let b = pop(stack)?;
            let a = pop(stack)?;
            stack.push(Obj::Tuple(vec![a, b, c]))
        }
        EMPTY_LIST => stack.push(Obj::List(Vec::new())),
        LIST => {
            let items = pop_mark(stack)?;
            stack.push(Obj::List(items))
        }
        APPEND => {
            let v = pop(stack)?;
            append(top(stack)?, vec![v])?
        }
        APPENDS => {
            let items = pop_mark(stack)?;
            append(top(stack)?, items)?
        }
        EMPTY_DICT => stack.push(Obj::Dict(Vec::new())),
        DICT => {
            let items = pop_mark(stack)?;
            let mut d = Obj::Dict(Vec::new());
            set_items(&mut d, items)?;
            stack.push(d)
        }
        SETITEM => {
            let v = pop(stack)?;
            let k = pop(stack)?;
            set_items(top(stack)?, vec![k, v])?
        }
        SETITEMS => {
            let items = pop_mark(stack)?;
            set_items(top(stack)?, items)?
        }
        EMPTY_SET => stack.push(Obj::List(Vec::new())), // EMPTY_SET, modelled as a list
        ADDITEMS => {
            let items = pop_mark(stack)?;
            append(top(stack)?, items)?
        }
        FROZENSET => {
            let items = pop_mark(stack)?;
            stack.push(Obj::List(items))
        }
        GLOBAL => {
            let module = text(r.line()?)?;
            let name = text(r.line()?)?;
            stack.push(Obj::Global { module, name })
        }
        STACK_GLOBAL => {
            let name = pop(stack)?;
            let module = pop(stack)?;
            match (module, name) {
                (Obj::Str(module), Obj::Str(name)) => stack.push(Obj::Global { module, name }),
                _ => return Err("STACK_GLOBAL needs two strings".to_string()),
            }
        }
        REDUCE => {
            let args = pop(stack)?;
            let func = pop(stack)?;
            let is_dict = func.is_global("collections", "OrderedDict")
                || func.is_global("collections", "defaultdict")
                || func.is_global("builtins", "dict")
                || func.is_global("__builtin__", "dict");
            stack.push(if is_dict {
                Obj::Dict(Vec::new())
            } else {
                Obj::Reduce {
                    func: Box::new(func),
                    args: Box::new(args),
                }
            })
        }
        NEWOBJ => {
            let args = pop(stack)?;
            let cls = pop(stack)?;
            stack.push(Obj::Reduce {
                func: Box::new(cls),
                args: Box::new(args),
            })
        }
        NEWOBJ_EX => {
            let _kwargs = pop(stack)?;
            let args = pop(stack)?;
            let cls = pop(stack)?;
            stack.push(Obj::Reduce {
                func: Box::new(cls),
                args: Box::new(args),
            })
        }
        BUILD => {
            let state = pop(stack)?;
            let obj = pop(stack)?;
            stack.push(match obj {
                // OrderedDict state (e.g. `_metadata`) is not part of the mapping.
                d @ Obj::Dict(_) => d,
                obj => Obj::Build {
                    obj: Box::new(obj),
                    state: Box::new(state),
                },
            })
        }
        BINPERSID => {
            let pid = pop(stack)?;
            stack.push(Obj::PersId(Box::new(pid)))
        }
        PERSID => {
            let line = text(r.line()?)?;
            stack.push(Obj::PersId(Box::new(Obj::Str(line))))
        }
        BINGET => {
            let id = r.u8()? as u64;
            stack.push(memo_get(memo, id)?)
        }
        LONG_BINGET => {
            let id = r.u32()? as u64;
            stack.push(memo_get(memo, id)?)
        }
        GET => {
            let line = text(r.line()?)?;
            let id = line
                .trim()
                .parse()
                .map_err(|_| format!("bad GET `{line}`"))?;
            stack.push(memo_get(memo, id)?)
        }
        BINPUT => {
            let id = r.u8()? as u64;
            memo_put(memo, stack, id)?
        }
        LONG_BINPUT => {
            let id = r.u32()? as u64;
            memo_put(memo, stack, id)?
        }
        PUT => {
            let line = text(r.line()?)?;
            let id = line
                .trim()
                .parse()
                .map_err(|_| format!("bad PUT `{line}`"))?;
            memo_put(memo, stack, id)?
        }
        MEMOIZE => {
            let id = memo.len() as u64;
            memo_put(memo, stack, id)?
        }
        other => return Err(format!("unsupported or invalid opcode 0x{other:02x}")),
    }
    Ok(false)
}
