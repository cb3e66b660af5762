// SPDX-License-Identifier: MIT OR Apache-2.0
include!("scripts/link_libtorch.rs");

fn main() {
    link_libtorch();
}
