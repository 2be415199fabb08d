//! Weights and optimiser state as safetensors bytes, to save a model or resume training.

use crate::network::Network;
use crate::optim::RmsProp;
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::Path;

const EPOCHS_KEY: &str = "tune.epochs_done";

/// The weights as named tensors (`conv1.kernel`, ...).
fn weights(net: &Network) -> HashMap<String, Tensor> {
    net.params()
        .iter()
        .map(|p| (p.name.clone(), p.var.as_tensor().clone()))
        .collect()
}

/// Saves the weights to a safetensors file.
pub fn save_weights(net: &Network, path: &Path) -> crate::Result<()> {
    candle_core::safetensors::save(&weights(net), path)?;
    Ok(())
}

/// Saves the weights held in checkpoint `bytes` (from [`checkpoint_bytes`]) to a safetensors
/// file, as [`save_weights`] would have saved the network: the tensors without the optimiser
/// state and the epoch count.
pub fn save_weights_from_checkpoint(bytes: &[u8], path: &Path) -> crate::Result<()> {
    let tensors: HashMap<String, Tensor> =
        candle_core::safetensors::load_buffer(bytes, &Device::Cpu)?
            .into_iter()
            .filter(|(name, _)| name != EPOCHS_KEY && !name.starts_with("rmsprop."))
            .collect();
    if tensors.is_empty() {
        return Err(crate::Error::Checkpoint("it holds no weights".to_string()));
    }
    candle_core::safetensors::save(&tensors, path)?;
    Ok(())
}

/// Weights, RMSprop state and the number of finished epochs, as safetensors bytes.
pub fn checkpoint_bytes(
    net: &Network,
    opt: &RmsProp,
    epochs_done: usize,
) -> crate::Result<Vec<u8>> {
    let mut tensors = weights(net);
    for (p, v) in net.params().iter().zip(&opt.velocity) {
        tensors.insert(
            format!("rmsprop.{}", p.name),
            Tensor::from_slice(v, v.len(), &Device::Cpu)?,
        );
    }
    tensors.insert(
        EPOCHS_KEY.to_string(),
        Tensor::new(&[epochs_done as u32], &Device::Cpu)?,
    );
    safetensors::tensor::serialize(tensors.iter(), None)
        .map_err(|e| crate::Error::Checkpoint(e.to_string()))
}

/// Restores weights and RMSprop state from [`checkpoint_bytes`]; returns the epochs done.
pub fn restore(net: &Network, opt: &mut RmsProp, bytes: &[u8]) -> crate::Result<usize> {
    let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)?;
    let get = |name: &str| {
        tensors
            .get(name)
            .ok_or_else(|| crate::Error::Checkpoint(format!("missing tensor `{name}`")))
    };
    for (p, v) in net.params().iter().zip(opt.velocity.iter_mut()) {
        let w = get(&p.name)?;
        if w.dims() != p.var.dims() {
            return Err(crate::Error::Checkpoint(format!(
                "`{}` has shape {:?}, the model needs {:?}",
                p.name,
                w.dims(),
                p.var.dims()
            )));
        }
        p.var.set(w)?;
        *v = get(&format!("rmsprop.{}", p.name))?.to_vec1::<f32>()?;
    }
    let epochs = get(EPOCHS_KEY)?.to_vec1::<u32>()?;
    Ok(epochs.first().copied().unwrap_or(0) as usize)
}
