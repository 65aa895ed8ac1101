//! Several projections of one input (Q, K and V; gate and up) as one op where our kernels run
//! them all: the input quantized once per activation kind, every weight row in one pass over
//! the pool, one barrier instead of one per projection.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, Layout, Module, Shape, Tensor};

use super::{side_by_side_op, OurMatMul, QLinear};
use crate::layers::CResult;

pub enum Projections {
    /// Our kernels for every part: one op, its output split by columns.
    Fused(Arc<FusedMatMul>),
    /// A part candle runs: each projection on its own.
    Separate(Vec<QLinear>),
    /// One matrix holding every projection's rows (on a GPU: `Weights::projections`), its
    /// output split by columns.
    Stacked { w: QLinear, rows: Vec<usize> },
}

impl Projections {
    pub fn new(parts: Vec<QLinear>) -> Self {
        let ours: Vec<Arc<OurMatMul>> = parts
            .iter()
            .filter_map(|p| match p {
                QLinear::Ours(op) => Some(op.clone()),
                QLinear::Candle(_) => None,
            })
            .collect();
        let fusable = ours.len() == parts.len()
            && ours
                .windows(2)
                .all(|w| w[0].columns() == w[1].columns() && w[0].kernel == w[1].kernel);
        match fusable && !ours.is_empty() {
            true => Projections::Fused(Arc::new(FusedMatMul { parts: ours })),
            false => Projections::Separate(parts),
        }
    }

    /// Each projection of `x`, in the order they were given.
    pub fn forward(&self, x: &Tensor) -> CResult<Vec<Tensor>> {
        match self {
            Projections::Separate(parts) => parts.iter().map(|p| p.forward(x)).collect(),
            Projections::Fused(op) => {
                let y = x.contiguous()?.apply_op1_no_bwd(op.as_ref())?;
                split_columns(&y, op.parts.iter().map(|p| p.rows()))
            }
            Projections::Stacked { w, rows } => split_columns(&w.forward(x)?, rows.iter().copied()),
        }
    }
}

/// `y`'s last dimension cut into consecutive parts of these widths (views, no copy).
fn split_columns(y: &Tensor, widths: impl Iterator<Item = usize>) -> CResult<Vec<Tensor>> {
    let last = y.rank() - 1;
    let mut col = 0;
    widths
        .map(|n| {
            let part = y.narrow(last, col, n);
            col += n;
            part
        })
        .collect()
}

pub struct FusedMatMul {
    parts: Vec<Arc<OurMatMul>>,
}

impl CustomOp1 for FusedMatMul {
    fn name(&self) -> &'static str {
        "parallax-fused-qmatmul"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> CResult<(CpuStorage, Shape)> {
        let ops: Vec<&OurMatMul> = self.parts.iter().map(|p| p.as_ref()).collect();
        side_by_side_op(self.name(), &ops, storage, layout)
    }
}
