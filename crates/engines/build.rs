//! This crate's test binary links MLX: rpath to libmlx, OpenBLAS first (see crates/mlx-sys/link_args.rs).
include!("../mlx-sys/link_args.rs");

fn main() {
    link_mlx_binary();
}
