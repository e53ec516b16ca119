//! Two embassy-net devices wired back to back in memory: two stacks talk TCP to each other
//! with no root, no TAP device and no network. Host tests and the QEMU firmware use it.
//!
//! The devices use the IP medium (`HardwareAddress::Ip`), so there is no ARP: give each
//! stack a static address in the same subnet, e.g. [`static_config`].
//!
//! ```ignore
//! let (device_a, device_b, wire) = loopback::pair(&mut state_a, &mut state_b);
//! let (stack_a, mut runner_a) = embassy_net::new(device_a, loopback::static_config([10, 0, 0, 1]), resources_a, 1);
//! let (stack_b, mut runner_b) = embassy_net::new(device_b, loopback::static_config([10, 0, 0, 2]), resources_b, 2);
//! // run runner_a.run(), runner_b.run() and wire.run() alongside the application
//! ```

use embassy_futures::join::join;
use embassy_net::{Config, Ipv4Address, Ipv4Cidr, StaticConfigV4};
use embassy_net_driver_channel as channel;
use embassy_net_driver_channel::driver::{HardwareAddress, LinkState};

/// The memory of one device: `N` packets of `MTU` bytes each way.
pub type State<const MTU: usize, const N: usize> = channel::State<MTU, N, N>;

/// One end, for `embassy_net::new`.
pub type Device<'d, const MTU: usize> = channel::Device<'d, MTU>;

/// Two devices whose packets [`Wire::run`] carries across.
pub fn pair<'d, const MTU: usize, const N: usize>(
    a: &'d mut State<MTU, N>,
    b: &'d mut State<MTU, N>,
) -> (Device<'d, MTU>, Device<'d, MTU>, Wire<'d, MTU>) {
    let (runner_a, device_a) = channel::new(a, HardwareAddress::Ip);
    let (runner_b, device_b) = channel::new(b, HardwareAddress::Ip);
    let wire = Wire {
        a: runner_a,
        b: runner_b,
    };
    (device_a, device_b, wire)
}

/// The cable between the two devices.
#[allow(missing_debug_implementations)] // The channel runners are not Debug.
pub struct Wire<'d, const MTU: usize> {
    a: channel::Runner<'d, MTU>,
    b: channel::Runner<'d, MTU>,
}

impl<const MTU: usize> Wire<'_, MTU> {
    /// Brings both links up and copies every packet one device sends to the other, forever.
    pub async fn run(self) -> ! {
        let (state_a, mut rx_a, mut tx_a) = self.a.split();
        let (state_b, mut rx_b, mut tx_b) = self.b.split();
        state_a.set_link_state(LinkState::Up);
        state_b.set_link_state(LinkState::Up);
        let a_to_b = async {
            loop {
                let packet = tx_a.tx_buf().await;
                let len = packet.len();
                let slot = rx_b.rx_buf().await;
                if let (Some(dst), Some(src)) = (slot.get_mut(..len), packet.get(..len)) {
                    dst.copy_from_slice(src);
                }
                rx_b.rx_done(len);
                tx_a.tx_done();
            }
        };
        let b_to_a = async {
            loop {
                let packet = tx_b.tx_buf().await;
                let len = packet.len();
                let slot = rx_a.rx_buf().await;
                if let (Some(dst), Some(src)) = (slot.get_mut(..len), packet.get(..len)) {
                    dst.copy_from_slice(src);
                }
                rx_a.rx_done(len);
                tx_b.tx_done();
            }
        };
        match join(a_to_b, b_to_a).await {}
    }
}

/// A static IPv4 configuration `address/24` with no gateway.
pub fn static_config(address: [u8; 4]) -> Config {
    let [a, b, c, d] = address;
    Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(Ipv4Address::new(a, b, c, d), 24),
        gateway: None,
        dns_servers: heapless::Vec::new(),
    })
}
