//! An XDP program that drops every packet, attached to an interface of a lab host in generic
//! mode, as a host's filter against floods or a mistaken one is: made by hand (two instructions, `r0 =
//! XDP_DROP; exit`) and loaded with `bpf(2)`, so that no compiler, object file or `bpftool` is
//! needed. Attached through a BPF link, which detaches when [`XdpDrop`] is dropped (or the
//! namespace goes).
#![expect(
    unsafe_code,
    reason = "bpf(2) and if_nametoindex(3) have no safe wrapper in our dependencies"
)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_DROP: i32 = 1;

/// `bpf_attr` for `BPF_PROG_LOAD`, as far as we fill it; the rest zero.
#[repr(C)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    rest: [u8; 96],
}

/// `bpf_attr` for `BPF_LINK_CREATE`; the rest zero.
#[repr(C)]
struct LinkCreate {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    rest: [u8; 112],
}

/// The attached program: it stays attached while this lives.
#[derive(Debug)]
pub struct XdpDrop {
    _link: OwnedFd,
    _program: OwnedFd,
}

fn bpf<T>(command: libc::c_long, attr: &mut T) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is a `#[repr(C)]` `bpf_attr` of the command, zero past the fields set, and
    // of its own size, which the kernel reads no further than.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command,
            std::ptr::from_mut(attr),
            std::mem::size_of::<T>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| io::Error::other("bpf(2) returned no descriptor"))?;
    // SAFETY: the kernel gave us this new descriptor, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One eBPF instruction: opcode, registers, offset, immediate.
fn instruction(code: u8, imm: i32) -> [u8; 8] {
    let mut bytes = [0; 8];
    bytes[0] = code;
    bytes[4..].copy_from_slice(&imm.to_ne_bytes());
    bytes
}

/// Attaches the program to `device` of the calling thread's network namespace.
pub(crate) fn attach_drop(device: &str) -> io::Result<XdpDrop> {
    // `mov64 r0, XDP_DROP` (BPF_ALU64 | BPF_MOV | BPF_K), `exit` (BPF_JMP | BPF_EXIT).
    let mut code = Vec::new();
    code.extend_from_slice(&instruction(0xb7, XDP_DROP));
    code.extend_from_slice(&instruction(0x95, 0));
    let license = c"GPL";
    let mut load = ProgLoad {
        prog_type: BPF_PROG_TYPE_XDP,
        insn_cnt: 2,
        insns: code.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        prog_flags: 0,
        rest: [0; 96],
    };
    let program = bpf(BPF_PROG_LOAD, &mut load)?;
    let name = CString::new(device).map_err(io::Error::other)?;
    // SAFETY: a NUL-terminated name that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    let mut create = LinkCreate {
        prog_fd: u32::try_from(program.as_raw_fd()).map_err(io::Error::other)?,
        target_ifindex: index,
        attach_type: BPF_XDP,
        flags: XDP_FLAGS_SKB_MODE,
        rest: [0; 112],
    };
    let link = bpf(BPF_LINK_CREATE, &mut create)?;
    Ok(XdpDrop {
        _link: link,
        _program: program,
    })
}
