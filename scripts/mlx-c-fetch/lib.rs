//! Empty: this manifest exists only so `cargo fetch` unpacks the upstream mlx-c sources.
