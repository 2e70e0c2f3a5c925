//! A SQLite VFS shim that hands each commit's write-ahead-log frames to the operating system in
//! one `write` call instead of two per frame.
//!
//! SQLite writes every WAL frame as two `pwrite` calls, its 24-byte header and then its page
//! (`walWriteOneFrame` in `wal.c`): a commit of 25 frames is 50 system calls, each taking the
//! file's page-cache path (lookup, lock, copy, dirty marking) for a piece of a page. With this
//! shim, a connection that has turned buffering on collects the frames of a transaction in memory
//! while they are contiguous and writes them in one call when SQLite syncs the WAL at the commit
//! (or reads it, truncates it, asks its size, the buffer reaches [`FLUSH_BYTES`], or the
//! connection releases the WAL's write lock after a rollback).
//!
//! # When it is safe, and why
//! With `PRAGMA synchronous = FULL` or `EXTRA` in WAL mode, SQLite syncs the WAL (`xSync`) at
//! every commit after writing the commit's frames and before it publishes them in the shared
//! WAL index (`sqlite3WalFrames`: frames, checksum rewrite, sync, then `walIndexAppend` and the
//! index header). The shim writes everything buffered before it forwards that sync, so by the
//! time any other connection or process can see a frame, the frame is in the file; and a commit
//! is durable exactly when it was without the shim (the sync covers the same bytes). Frames of a
//! transaction that is still open (a spilled page cache) are read back by the writer only
//! through `xRead`, which writes the buffer out first. Frames of a transaction that rolls back
//! are written when the connection releases the WAL's write lock (`xShmLock` on the main file),
//! as SQLite would have written them when it spilled them: kept longer, they could later land
//! on frames another connection has committed at the same offsets in the meantime. So a
//! connection holds buffered frames only while it holds the write lock.
//!
//! With `synchronous = NORMAL` or `OFF` there is no sync at commit, so buffered frames could be
//! published before they are written: buffering is therefore off unless the connection turns it
//! on with `PRAGMA codelab_wal_write_buffer = on` ([`PRAGMA`]), which is refused (an error)
//! unless the connection's last `PRAGMA synchronous = …` asked for `FULL` or `EXTRA`; any later
//! `PRAGMA synchronous = …` turns it off again. (SQLite refuses a change of `synchronous` inside
//! a transaction after the shim has seen it: set it, and the switch, outside one.) A connection
//! that never runs the pragma goes through the shim unchanged (every call forwarded).
//!
//! # Use
//! [`register`] once per process makes the shim SQLite's default VFS, wrapping the previous
//! default (`unix`); then, on each connection, after `PRAGMA synchronous = FULL`:
//! `PRAGMA codelab_wal_write_buffer = on`. `PRAGMA codelab_wal_write_buffer` alone answers `1`
//! or `0`.
//!
//! Sources: <https://www.sqlite.org/vfs.html>, <https://www.sqlite.org/wal.html>,
//! <https://www.sqlite.org/c3ref/c_fcntl_begin_atomic_write.html#sqlitefcntlpragma>,
//! <https://www.sqlite.org/fileformat.html#the_write_ahead_log>.
#![allow(unsafe_code)]

use libsqlite3_sys as ffi;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;
use std::sync::OnceLock;

/// The name the shim is registered under.
pub const VFS_NAME: &CStr = c"codelab-wal-buffer";

/// The per-connection switch, handled by the shim itself (`PRAGMA codelab_wal_write_buffer =
/// on | off`, or alone to read it as `1` / `0`).
pub const PRAGMA: &str = "codelab_wal_write_buffer";

/// Buffered WAL bytes at which the buffer is written out without waiting for the sync (256 KiB,
/// about 63 frames of a 4 KiB page): bounds the memory a large transaction holds per connection.
pub const FLUSH_BYTES: usize = 256 * 1024;

/// Most bytes handed to the wrapped file's `xWrite` in one call (124 KiB): the unix VFS passes
/// at most 128 KiB − 1 to one `pwrite` (`seekAndWriteFd` masks the length with `0x1ffff`).
const MAX_WRITE: usize = 124 * 1024;

/// Why [`register`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterError(pub String);

impl std::fmt::Display for RegisterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot register the SQLite VFS shim: {}", self.0)
    }
}

impl std::error::Error for RegisterError {}

/// Registers the shim as SQLite's default VFS for this process, wrapping the default before it.
/// Idempotent: later calls return the first call's outcome.
///
/// # Errors
/// [`RegisterError`] when SQLite has no default VFS, the default's file methods are older than
/// version 3 (no memory-mapped I/O or shared-memory methods to forward), or registration fails.
pub fn register() -> Result<(), RegisterError> {
    static REGISTERED: OnceLock<Result<(), RegisterError>> = OnceLock::new();
    REGISTERED.get_or_init(register_once).clone()
}

fn register_once() -> Result<(), RegisterError> {
    // SAFETY: sqlite3_vfs_find is thread-safe and returns a pointer to a registered VFS that
    // lives for the rest of the process (VFSes are never freed by SQLite).
    let base = unsafe { ffi::sqlite3_vfs_find(ptr::null()) };
    if base.is_null() {
        return Err(RegisterError("SQLite has no default VFS".into()));
    }
    // SAFETY: `base` is a valid, registered VFS (above).
    let b = unsafe { &*base };
    // SAFETY: a registered VFS's zName is a NUL-terminated string it owns for its lifetime.
    if !b.zName.is_null() && unsafe { CStr::from_ptr(b.zName) } == VFS_NAME {
        return Ok(());
    }
    if b.iVersion < 3 || b.xOpen.is_none() {
        return Err(RegisterError(format!(
            "default VFS is version {}",
            b.iVersion
        )));
    }
    let vfs = Box::new(ffi::sqlite3_vfs {
        iVersion: 3,
        szOsFile: (HEADER as c_int) + b.szOsFile,
        mxPathname: b.mxPathname,
        pNext: ptr::null_mut(),
        zName: VFS_NAME.as_ptr(),
        pAppData: base.cast(),
        xOpen: Some(vfs_open),
        xDelete: Some(vfs_delete),
        xAccess: Some(vfs_access),
        xFullPathname: Some(vfs_full_pathname),
        xDlOpen: Some(vfs_dl_open),
        xDlError: Some(vfs_dl_error),
        xDlSym: Some(vfs_dl_sym),
        xDlClose: Some(vfs_dl_close),
        xRandomness: Some(vfs_randomness),
        xSleep: Some(vfs_sleep),
        xCurrentTime: Some(vfs_current_time),
        xGetLastError: Some(vfs_get_last_error),
        xCurrentTimeInt64: Some(vfs_current_time_int64),
        xSetSystemCall: Some(vfs_set_system_call),
        xGetSystemCall: Some(vfs_get_system_call),
        xNextSystemCall: Some(vfs_next_system_call),
    });
    // SQLite keeps the pointer for the rest of the process: the VFS is never freed.
    let vfs = Box::leak(vfs);
    // SAFETY: `vfs` is fully initialised and 'static; registration is thread-safe.
    let rc = unsafe { ffi::sqlite3_vfs_register(vfs, 1) };
    if rc != ffi::SQLITE_OK {
        return Err(RegisterError(format!("sqlite3_vfs_register returned {rc}")));
    }
    Ok(())
}

/// What the shim keeps in front of the wrapped VFS's file object, in the same allocation.
#[repr(C)]
struct ShimFile {
    /// SQLite's view: `pMethods` is [`METHODS`] once the file is open.
    base: ffi::sqlite3_file,
    kind: Kind,
    /// The wrapped VFS's file object, right after this header.
    real: *mut ffi::sqlite3_file,
}

enum Kind {
    /// A main database file: the connection's switch, whether the last `PRAGMA synchronous =
    /// …` seen on it asked for FULL or EXTRA, and the shim of its open WAL file (or null).
    Main {
        buffer_wal: bool,
        sync_full: bool,
        wal: *mut ShimFile,
    },
    /// A WAL file: its main database file's shim (null when that is not ours) and the frames
    /// not yet written, which start at file offset `start`.
    Wal {
        main: *mut ShimFile,
        buf: Vec<u8>,
        start: i64,
    },
}

/// Bytes before the wrapped file object (a multiple of 8, SQLite's allocation alignment).
const HEADER: usize = std::mem::size_of::<ShimFile>().next_multiple_of(8);

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(file_close),
    xRead: Some(file_read),
    xWrite: Some(file_write),
    xTruncate: Some(file_truncate),
    xSync: Some(file_sync),
    xFileSize: Some(file_size),
    xLock: Some(file_lock),
    xUnlock: Some(file_unlock),
    xCheckReservedLock: Some(file_check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(file_sector_size),
    xDeviceCharacteristics: Some(file_device_characteristics),
    xShmMap: Some(file_shm_map),
    xShmLock: Some(file_shm_lock),
    xShmBarrier: Some(file_shm_barrier),
    xShmUnmap: Some(file_shm_unmap),
    xFetch: Some(file_fetch),
    xUnfetch: Some(file_unfetch),
};

/// The VFS the shim wraps.
///
/// # Safety
/// `vfs` is the shim's registered VFS, whose `pAppData` is the wrapped VFS.
unsafe fn inner(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    // SAFETY: per the contract above.
    unsafe { (*vfs).pAppData.cast() }
}

unsafe extern "C" fn vfs_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite calls xOpen with this VFS and a zeroed-or-not allocation of szOsFile bytes
    // (HEADER + the wrapped VFS's size), aligned to 8.
    unsafe {
        let base = inner(vfs);
        let Some(open) = (*base).xOpen else {
            return ffi::SQLITE_CANTOPEN;
        };
        let is_main = flags & ffi::SQLITE_OPEN_MAIN_DB != 0;
        let is_wal = flags & ffi::SQLITE_OPEN_WAL != 0;
        if !is_main && !is_wal {
            // Journals and temporary files: the wrapped VFS's object in place, its own methods.
            return open(base, name, file, flags, out_flags);
        }
        let shim = file.cast::<ShimFile>();
        let real = file.cast::<u8>().add(HEADER).cast::<ffi::sqlite3_file>();
        (*file).pMethods = ptr::null();
        (*real).pMethods = ptr::null();
        let rc = open(base, name, real, flags, out_flags);
        if (*real).pMethods.is_null() {
            // Nothing to close: SQLite will not call xClose on a file without methods.
            return rc;
        }
        let kind = if is_wal {
            Kind::Wal {
                main: main_of_wal(name),
                buf: Vec::new(),
                start: 0,
            }
        } else {
            Kind::Main {
                buffer_wal: false,
                sync_full: false,
                wal: ptr::null_mut(),
            }
        };
        ptr::addr_of_mut!((*shim).kind).write(kind);
        ptr::addr_of_mut!((*shim).real).write(real);
        (*file).pMethods = &METHODS;
        if let Kind::Wal { main, .. } = (*shim).kind
            && let Some(Kind::Main { wal, .. }) = main.as_mut().map(|m| &mut m.kind)
        {
            *wal = shim;
        }
        rc
    }
}

/// The shim of the main database file a WAL file named `name` belongs to, or null.
///
/// # Safety
/// `name` is the name SQLite passed to xOpen for a WAL file.
unsafe fn main_of_wal(name: *const c_char) -> *mut ShimFile {
    if name.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: `name` is a WAL name passed to xOpen (the documented precondition), so SQLite
    // returns its database's open file object.
    let main = unsafe { ffi::sqlite3_database_file_object(name) };
    // SAFETY: a non-null result is an open sqlite3_file; when its methods are ours it is a
    // ShimFile, whose kind was written before its methods were set.
    unsafe {
        if main.is_null() || !ptr::eq((*main).pMethods, &METHODS) {
            return ptr::null_mut();
        }
        let main = main.cast::<ShimFile>();
        match (*main).kind {
            Kind::Main { .. } => main,
            Kind::Wal { .. } => ptr::null_mut(),
        }
    }
}

/// The shim behind `file`.
///
/// # Safety
/// `file` is a file the shim opened (its methods are [`METHODS`]) and not yet closed; the caller
/// holds the only reference for the call (SQLite uses a file from one thread at a time).
unsafe fn shim<'a>(file: *mut ffi::sqlite3_file) -> &'a mut ShimFile {
    // SAFETY: per the contract above.
    unsafe { &mut *file.cast::<ShimFile>() }
}

/// The wrapped file's methods.
///
/// # Safety
/// `s.real` is an open file of the wrapped VFS.
unsafe fn methods(s: &ShimFile) -> &'static ffi::sqlite3_io_methods {
    // SAFETY: an open file's methods outlive it (they are the VFS's static table).
    unsafe { &*(*s.real).pMethods }
}

/// Whether writes to this WAL file are buffered now: its connection has the switch on.
///
/// # Safety
/// As [`shim`]; a WAL's main file outlives it (SQLite closes the WAL first).
unsafe fn buffering(s: &ShimFile) -> bool {
    match s.kind {
        Kind::Wal { main, .. } if !main.is_null() => {
            // SAFETY: per the contract above.
            matches!(
                unsafe { &(*main).kind },
                Kind::Main {
                    buffer_wal: true,
                    ..
                }
            )
        }
        _ => false,
    }
}

/// Writes out what is buffered (a WAL file's frames); `SQLITE_OK` when nothing is.
///
/// # Safety
/// As [`shim`].
unsafe fn flush(s: &mut ShimFile) -> c_int {
    let real = s.real;
    match &mut s.kind {
        // SAFETY: `real` is open (contract of `shim`).
        Kind::Wal { buf, start, .. } => unsafe { write_out(real, buf, *start) },
        Kind::Main { .. } => ffi::SQLITE_OK,
    }
}

/// Writes `buf`, which starts at file offset `start`, to the wrapped file `real` in pieces of at
/// most [`MAX_WRITE`] bytes, and empties it; the first error, or `SQLITE_OK`.
///
/// # Safety
/// `real` is an open file of the wrapped VFS.
unsafe fn write_out(real: *mut ffi::sqlite3_file, buf: &mut Vec<u8>, start: i64) -> c_int {
    if buf.is_empty() {
        return ffi::SQLITE_OK;
    }
    // SAFETY: an open file's methods outlive it (they are the VFS's static table).
    let Some(write) = (unsafe { &*(*real).pMethods }).xWrite else {
        buf.clear();
        return ffi::SQLITE_IOERR_WRITE;
    };
    let mut rc = ffi::SQLITE_OK;
    let mut offset = start;
    for chunk in buf.chunks(MAX_WRITE) {
        // SAFETY: `chunk` holds `len` (< 128 KiB) initialised bytes for the call's duration.
        rc = unsafe { write(real, chunk.as_ptr().cast(), chunk.len() as c_int, offset) };
        if rc != ffi::SQLITE_OK {
            break;
        }
        offset += chunk.len() as i64;
    }
    // Written or not, the buffer is emptied: on an error SQLite gets it from the call that
    // wrote out (a write, read or sync of this transaction) and rolls the transaction back.
    buf.clear();
    rc
}

/// Forwards one call to the wrapped file, or returns `missing` when it lacks the method.
macro_rules! forward {
    ($file:expr, $method:ident, $missing:expr $(, $arg:expr)*) => {{
        // SAFETY: `$file` is open (SQLite calls methods only on open files).
        let s = unsafe { shim($file) };
        // SAFETY: as above.
        match unsafe { methods(s) }.$method {
            // SAFETY: forwarding SQLite's own arguments to the wrapped file.
            Some(m) => unsafe { m(s.real $(, $arg)*) },
            None => $missing,
        }
    }};
}

/// Writes out the buffer, then forwards.
macro_rules! flush_then_forward {
    ($file:expr, $method:ident, $missing:expr $(, $arg:expr)*) => {{
        // SAFETY: `$file` is open (SQLite calls methods only on open files).
        let rc = unsafe { flush(shim($file)) };
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        forward!($file, $method, $missing $(, $arg)*)
    }};
}

unsafe extern "C" fn file_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes an open file once; after this call it never uses it again. A WAL
    // closes before its main file (`sqlite3PagerClose`); the links between the two are cleared
    // here whichever closes first, so neither is left pointing at a closed file.
    let flushed = unsafe {
        let s = shim(file);
        let this: *mut ShimFile = s;
        match s.kind {
            Kind::Wal { main, .. } => {
                if let Some(Kind::Main { wal, .. }) = main.as_mut().map(|m| &mut m.kind)
                    && ptr::eq(*wal, this)
                {
                    *wal = ptr::null_mut();
                }
            }
            Kind::Main { wal, .. } => {
                if let Some(Kind::Wal { main, .. }) = wal.as_mut().map(|w| &mut w.kind)
                    && ptr::eq(*main, this)
                {
                    *main = ptr::null_mut();
                }
            }
        }
        flush(&mut *this)
    };
    let closed = forward!(file, xClose, ffi::SQLITE_OK);
    // SAFETY: as above; `kind` was written at open and is dropped once, here.
    unsafe {
        ptr::drop_in_place(ptr::addr_of_mut!((*file.cast::<ShimFile>()).kind));
        (*file).pMethods = ptr::null();
    }
    if flushed != ffi::SQLITE_OK {
        flushed
    } else {
        closed
    }
}

unsafe extern "C" fn file_read(
    file: *mut ffi::sqlite3_file,
    data: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    flush_then_forward!(file, xRead, ffi::SQLITE_IOERR_READ, data, amount, offset)
}

unsafe extern "C" fn file_write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: `file` is open.
    let s = unsafe { shim(file) };
    let real = s.real;
    // SAFETY: as above.
    let buffered = unsafe { buffering(s) } && amount > 0;
    let Kind::Wal { buf, start, .. } = &mut s.kind else {
        return forward!(file, xWrite, ffi::SQLITE_IOERR_WRITE, data, amount, offset);
    };
    if !buffered || (!buf.is_empty() && *start + buf.len() as i64 != offset) {
        // Not appended to what is buffered: that goes first, in order.
        // SAFETY: `real` is open.
        let rc = unsafe { write_out(real, buf, *start) };
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    if !buffered {
        return forward!(file, xWrite, ffi::SQLITE_IOERR_WRITE, data, amount, offset);
    }
    if buf.is_empty() {
        *start = offset;
    }
    // SAFETY: SQLite passes `amount` (> 0) readable bytes at `data`.
    buf.extend_from_slice(unsafe {
        std::slice::from_raw_parts(data.cast::<u8>(), amount as usize)
    });
    if buf.len() >= FLUSH_BYTES {
        // SAFETY: `real` is open.
        return unsafe { write_out(real, buf, *start) };
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn file_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    flush_then_forward!(file, xTruncate, ffi::SQLITE_IOERR_TRUNCATE, size)
}

unsafe extern "C" fn file_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    flush_then_forward!(file, xSync, ffi::SQLITE_IOERR_FSYNC, flags)
}

unsafe extern "C" fn file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    flush_then_forward!(file, xFileSize, ffi::SQLITE_IOERR_FSTAT, size)
}

unsafe extern "C" fn file_lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    forward!(file, xLock, ffi::SQLITE_IOERR_LOCK, level)
}

unsafe extern "C" fn file_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    forward!(file, xUnlock, ffi::SQLITE_IOERR_UNLOCK, level)
}

unsafe extern "C" fn file_check_reserved_lock(
    file: *mut ffi::sqlite3_file,
    out: *mut c_int,
) -> c_int {
    forward!(
        file,
        xCheckReservedLock,
        ffi::SQLITE_IOERR_CHECKRESERVEDLOCK,
        out
    )
}

unsafe extern "C" fn file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    if op == ffi::SQLITE_FCNTL_PRAGMA {
        // SAFETY: `file` is open; for SQLITE_FCNTL_PRAGMA, `arg` is SQLite's char*[4]: [0] the
        // result or error (ours to set, allocated by sqlite3_mprintf), [1] the pragma's name,
        // [2] its value or NULL.
        if let Some(rc) = unsafe { pragma(shim(file), arg.cast()) } {
            return rc;
        }
    }
    flush_then_forward!(file, xFileControl, ffi::SQLITE_NOTFOUND, op, arg)
}

/// Handles [`PRAGMA`] on a main database file (`Some` with the result code: turning it on needs
/// an earlier `PRAGMA synchronous = FULL | EXTRA` on the connection), and on any `PRAGMA
/// synchronous = …` records the level asked for and turns the switch off (then `None`: SQLite
/// goes on with it).
///
/// # Safety
/// As in [`file_control`].
unsafe fn pragma(s: &mut ShimFile, args: *mut *mut c_char) -> Option<c_int> {
    let Kind::Main {
        buffer_wal,
        sync_full,
        ..
    } = &mut s.kind
    else {
        return None;
    };
    // SAFETY: per the contract of `file_control`.
    let (name, value) = unsafe { (*args.add(1), *args.add(2)) };
    if name.is_null() {
        return None;
    }
    // SAFETY: SQLite's pragma name and value are NUL-terminated strings.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    let value = (!value.is_null()).then(|| unsafe { CStr::from_ptr(value) }.to_bytes());
    if name.eq_ignore_ascii_case(b"synchronous") {
        if let Some(v) = value {
            let v = v.to_ascii_lowercase();
            *sync_full = [&b"full"[..], b"extra", b"2", b"3"].contains(&&v[..]);
            *buffer_wal = false;
        }
        return None;
    }
    if !name.eq_ignore_ascii_case(PRAGMA.as_bytes()) {
        return None;
    }
    let answer: &CStr = match value.map(|v| v.to_ascii_lowercase()) {
        None => {
            if *buffer_wal {
                c"1"
            } else {
                c"0"
            }
        }
        Some(v) if [&b"on"[..], b"1", b"true", b"yes"].contains(&&v[..]) => {
            if !*sync_full {
                let message =
                    c"codelab_wal_write_buffer needs PRAGMA synchronous = FULL or EXTRA first";
                // SAFETY: the format has no conversions; SQLite frees the message.
                unsafe { *args = ffi::sqlite3_mprintf(message.as_ptr()) };
                return Some(ffi::SQLITE_ERROR);
            }
            *buffer_wal = true;
            return Some(ffi::SQLITE_OK);
        }
        Some(v) if [&b"off"[..], b"0", b"false", b"no"].contains(&&v[..]) => {
            *buffer_wal = false;
            return Some(ffi::SQLITE_OK);
        }
        Some(_) => {
            // SAFETY: the format has no conversions; SQLite frees the message.
            unsafe {
                *args = ffi::sqlite3_mprintf(c"codelab_wal_write_buffer takes on or off".as_ptr())
            };
            return Some(ffi::SQLITE_ERROR);
        }
    };
    // SAFETY: as above; SQLite returns the string as the pragma's one row, then frees it.
    unsafe { *args = ffi::sqlite3_mprintf(answer.as_ptr()) };
    Some(ffi::SQLITE_OK)
}

unsafe extern "C" fn file_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    forward!(file, xSectorSize, 4096)
}

unsafe extern "C" fn file_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    forward!(file, xDeviceCharacteristics, 0)
}

unsafe extern "C" fn file_shm_map(
    file: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    forward!(
        file,
        xShmMap,
        ffi::SQLITE_IOERR_SHMMAP,
        region,
        size,
        extend,
        out
    )
}

/// The shared-memory lock slot of the WAL's write lock (`WAL_WRITE_LOCK` in `wal.c`; the
/// slots are part of the WAL-index format: <https://www.sqlite.org/walformat.html#locks>).
const WAL_WRITE_LOCK: c_int = 0;

unsafe extern "C" fn file_shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    if flags & ffi::SQLITE_SHM_UNLOCK != 0
        && offset <= WAL_WRITE_LOCK
        && WAL_WRITE_LOCK < offset + n
    {
        // The connection lets go of the WAL's write lock: a transaction has committed (its
        // frames were written at the sync) or rolled back. Frames of a rolled-back
        // transaction still buffered are written now, while no other connection can write
        // the WAL, as SQLite would have written them when it spilled them; written later they
        // could land on frames another connection has committed since.
        // SAFETY: `file` is open; its WAL shim, when linked, is open (it unlinks on close) and
        // a different object.
        unsafe {
            if let Kind::Main { wal, .. } = shim(file).kind
                && let Some(wal) = wal.as_mut()
            {
                // Nothing can be done with a failure here: the frames were garbage past the
                // WAL's end (the buffer is emptied either way).
                let _ = flush(wal);
            }
        }
    }
    forward!(file, xShmLock, ffi::SQLITE_IOERR_SHMLOCK, offset, n, flags)
}

unsafe extern "C" fn file_shm_barrier(file: *mut ffi::sqlite3_file) {
    forward!(file, xShmBarrier, ())
}

unsafe extern "C" fn file_shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    forward!(file, xShmUnmap, ffi::SQLITE_OK, delete)
}

unsafe extern "C" fn file_fetch(
    file: *mut ffi::sqlite3_file,
    offset: i64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    flush_then_forward!(
        file,
        xFetch,
        {
            // SAFETY: `out` is SQLite's; "no mapping" (null) makes it read through xRead.
            unsafe { *out = ptr::null_mut() };
            ffi::SQLITE_OK
        },
        offset,
        amount,
        out
    )
}

unsafe extern "C" fn file_unfetch(
    file: *mut ffi::sqlite3_file,
    offset: i64,
    page: *mut c_void,
) -> c_int {
    forward!(file, xUnfetch, ffi::SQLITE_OK, offset, page)
}

/// Forwards a VFS-level call to the wrapped VFS with its own pointer.
macro_rules! forward_vfs {
    ($vfs:expr, $method:ident, $missing:expr $(, $arg:expr)*) => {{
        // SAFETY: `$vfs` is the shim's VFS; its pAppData is the wrapped VFS (see `register`).
        let base = unsafe { inner($vfs) };
        // SAFETY: the wrapped VFS is registered and lives for the process.
        match unsafe { (*base).$method } {
            // SAFETY: forwarding SQLite's own arguments, with the wrapped VFS as `self`.
            Some(m) => unsafe { m(base $(, $arg)*) },
            None => $missing,
        }
    }};
}

unsafe extern "C" fn vfs_delete(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    dir: c_int,
) -> c_int {
    forward_vfs!(vfs, xDelete, ffi::SQLITE_IOERR_DELETE, name, dir)
}

unsafe extern "C" fn vfs_access(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    forward_vfs!(vfs, xAccess, ffi::SQLITE_IOERR_ACCESS, name, flags, out)
}

unsafe extern "C" fn vfs_full_pathname(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    forward_vfs!(vfs, xFullPathname, ffi::SQLITE_CANTOPEN, name, n, out)
}

unsafe extern "C" fn vfs_dl_open(vfs: *mut ffi::sqlite3_vfs, name: *const c_char) -> *mut c_void {
    forward_vfs!(vfs, xDlOpen, ptr::null_mut(), name)
}

unsafe extern "C" fn vfs_dl_error(vfs: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) {
    forward_vfs!(vfs, xDlError, (), n, out)
}

type DlSym = Option<unsafe extern "C" fn(*mut ffi::sqlite3_vfs, *mut c_void, *const c_char)>;

unsafe extern "C" fn vfs_dl_sym(
    vfs: *mut ffi::sqlite3_vfs,
    handle: *mut c_void,
    symbol: *const c_char,
) -> DlSym {
    forward_vfs!(vfs, xDlSym, None, handle, symbol)
}

unsafe extern "C" fn vfs_dl_close(vfs: *mut ffi::sqlite3_vfs, handle: *mut c_void) {
    forward_vfs!(vfs, xDlClose, (), handle)
}

unsafe extern "C" fn vfs_randomness(
    vfs: *mut ffi::sqlite3_vfs,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    forward_vfs!(vfs, xRandomness, 0, n, out)
}

unsafe extern "C" fn vfs_sleep(vfs: *mut ffi::sqlite3_vfs, micros: c_int) -> c_int {
    forward_vfs!(vfs, xSleep, 0, micros)
}

unsafe extern "C" fn vfs_current_time(vfs: *mut ffi::sqlite3_vfs, out: *mut f64) -> c_int {
    forward_vfs!(vfs, xCurrentTime, ffi::SQLITE_ERROR, out)
}

unsafe extern "C" fn vfs_get_last_error(
    vfs: *mut ffi::sqlite3_vfs,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    forward_vfs!(vfs, xGetLastError, 0, n, out)
}

unsafe extern "C" fn vfs_current_time_int64(vfs: *mut ffi::sqlite3_vfs, out: *mut i64) -> c_int {
    forward_vfs!(vfs, xCurrentTimeInt64, ffi::SQLITE_ERROR, out)
}

unsafe extern "C" fn vfs_set_system_call(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    call: ffi::sqlite3_syscall_ptr,
) -> c_int {
    forward_vfs!(vfs, xSetSystemCall, ffi::SQLITE_NOTFOUND, name, call)
}

unsafe extern "C" fn vfs_get_system_call(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
) -> ffi::sqlite3_syscall_ptr {
    forward_vfs!(vfs, xGetSystemCall, None, name)
}

unsafe extern "C" fn vfs_next_system_call(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
) -> *const c_char {
    forward_vfs!(vfs, xNextSystemCall, ptr::null(), name)
}
