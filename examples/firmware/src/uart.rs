//! Polling driver of the AN386's UART0 (an Arm CMSDK APB UART at
//! 0x4000_4000), as an `embedded_io` stream with bounded reads.

use core::sync::atomic::{AtomicU32, Ordering};

use palisade_transport::Clock as _;

const BASE: usize = 0x4000_4000;
const DATA: usize = BASE;
const STATE: usize = BASE + 0x04;
const CTRL: usize = BASE + 0x08;
const BAUDDIV: usize = BASE + 0x10;
const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_ENABLE: u32 = 1 << 0;
const CTRL_RX_ENABLE: u32 = 1 << 1;

/// SysTick ticks spent waiting for a received byte, to subtract from
/// instruction counts.
static IDLE_TICKS_LOW: AtomicU32 = AtomicU32::new(0);
static IDLE_TICKS_HIGH: AtomicU32 = AtomicU32::new(0);

/// Returns the ticks spent waiting for input so far.
pub fn idle_ticks() -> u64 {
    u64::from(IDLE_TICKS_HIGH.load(Ordering::Relaxed)) << 32
        | u64::from(IDLE_TICKS_LOW.load(Ordering::Relaxed))
}

fn add_idle(ticks: u64) {
    let total = idle_ticks() + ticks;
    IDLE_TICKS_LOW.store(total as u32, Ordering::Relaxed);
    IDLE_TICKS_HIGH.store((total >> 32) as u32, Ordering::Relaxed);
}

fn read_register(address: usize) -> u32 {
    // SAFETY: a CMSDK UART register of this board; reads have no side
    // effect except DATA, which pops the received byte.
    unsafe { core::ptr::read_volatile(address as *const u32) }
}

fn write_register(address: usize, value: u32) {
    // SAFETY: a CMSDK UART register of this board.
    unsafe { core::ptr::write_volatile(address as *mut u32, value) }
}

/// Error of the UART: a read that timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut;

impl core::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("no byte received on UART0 within the read timeout")
    }
}

impl core::error::Error for TimedOut {}

impl embedded_io::Error for TimedOut {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::TimedOut
    }
}

/// UART0, enabled for transmit and receive.
pub struct Uart {
    timeout_ms: u64,
}

impl Uart {
    /// Enables UART0. QEMU ignores the baud rate, but the divider must be
    /// at least 16 for the UART to run.
    pub fn new() -> Self {
        write_register(BAUDDIV, 16);
        write_register(CTRL, CTRL_TX_ENABLE | CTRL_RX_ENABLE);
        Self { timeout_ms: 0 }
    }
}

impl embedded_io::ErrorType for Uart {
    type Error = TimedOut;
}

impl embedded_io::Read for Uart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, TimedOut> {
        if buf.is_empty() {
            return Ok(0);
        }
        let clock = crate::TickClock;
        let deadline = clock.now_ms() + self.timeout_ms;
        let wait_start = crate::ticks();
        while read_register(STATE) & STATE_RX_FULL == 0 {
            if clock.now_ms() >= deadline {
                add_idle(crate::ticks() - wait_start);
                return Err(TimedOut);
            }
        }
        add_idle(crate::ticks() - wait_start);
        let mut count = 0;
        while count < buf.len() && read_register(STATE) & STATE_RX_FULL != 0 {
            buf[count] = read_register(DATA) as u8;
            count += 1;
        }
        Ok(count)
    }
}

impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, TimedOut> {
        for byte in buf {
            while read_register(STATE) & STATE_TX_FULL != 0 {}
            write_register(DATA, u32::from(*byte));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), TimedOut> {
        while read_register(STATE) & STATE_TX_FULL != 0 {}
        Ok(())
    }
}

impl palisade_transport::link::BoundedRead for Uart {
    fn set_read_timeout_ms(&mut self, timeout_ms: u64) -> Result<(), TimedOut> {
        self.timeout_ms = timeout_ms;
        Ok(())
    }
}
