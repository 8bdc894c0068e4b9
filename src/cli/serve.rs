//! `darts-pt serve`: offer this machine's device to remote clients.

use std::net::IpAddr;

use anyhow::{Result, bail};
use clap::Args;

use super::args::DeviceArgs;
use crate::remote::read_token;
use crate::remote::serve::{ServeRequest, serve};

#[derive(Args, Debug)]
#[command(
    mut_arg("device", |a| a.help(
        "The device of this machine to serve: auto, cpu (flex backend), or wgpu / vulkan / \
         metal / dx12 (burn's wgpu backend)"
    )),
    mut_arg("token_file", |a| a.help(
        "A file holding the token clients must present (without it a random token is \
         generated and printed)"
    ))
)]
pub struct ServeArgs {
    /// The port to listen on (0: any free port, printed).
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    /// The address to listen on. The default, 127.0.0.1, admits only this machine (reach it
    /// from another through an SSH tunnel); 0.0.0.0 admits every network the machine is on,
    /// over plaintext WebSocket.
    #[arg(long, default_value = "127.0.0.1")]
    pub listen: IpAddr,
    /// `--device` and `--token-file`, with the meanings above.
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: &ServeArgs) -> Result<()> {
    if args.device.device.is_remote() {
        bail!(
            "serve offers a device of this machine: give --device cpu, wgpu, vulkan, metal, dx12 or auto"
        );
    }
    let token = args
        .device
        .token_file
        .as_deref()
        .map(read_token)
        .transpose()?;
    let device = args.device.select()?;
    serve(ServeRequest {
        device: device.device,
        description: device.description,
        listen: args.listen,
        port: args.port,
        token,
    })
}
