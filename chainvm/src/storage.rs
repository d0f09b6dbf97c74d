//! The dapps' storage requests, answered from the registry within each
//! dapp's quota. The dapp is the one chainvm assigned to the slot the
//! request came from, never a name the app VM gives.

use crate::registry::{Registry, RegistryError};
use crate::supervisor::StorageRequest;
use alloc::vec::Vec;
use elastos_host_api::Status;
use elastos_store::BlockDevice;
use guest_runtime::supervision::{StorageOperation, VALUE_MAX};

/// The answer to a storage request: a host API status (0 or more on
/// success) and the value or key list.
pub fn answer<D: BlockDevice>(
    registry: &mut Registry<D>,
    request: &StorageRequest,
) -> (i32, Vec<u8>) {
    let quota = match registry.manifest(&request.dapp) {
        Ok(Some(manifest)) => manifest.limits.storage_quota,
        Ok(None) => return (Status::Unavailable.code(), Vec::new()),
        Err(_) => return (Status::Failed.code(), Vec::new()),
    };
    let dapp = request.dapp.as_str();
    let result = match request.operation {
        StorageOperation::Get => match registry.storage_get(dapp, &request.key) {
            Ok(Some(value)) if value.len() <= VALUE_MAX => Ok((value.len() as i32, value)),
            Ok(Some(_)) => Ok((Status::TooLarge.code(), Vec::new())),
            Ok(None) => Ok((Status::NotFound.code(), Vec::new())),
            Err(error) => Err(error),
        },
        StorageOperation::Put => registry
            .storage_put(dapp, &request.key, &request.value, quota)
            .map(|()| (0, Vec::new())),
        StorageOperation::Delete => registry.storage_delete(dapp, &request.key).map(|found| {
            if found {
                (0, Vec::new())
            } else {
                (Status::NotFound.code(), Vec::new())
            }
        }),
        StorageOperation::List => {
            let mut listed = Vec::new();
            let mut count = 0;
            for key in registry.storage_list(dapp, &request.key) {
                if listed.len() + 2 + key.len() > VALUE_MAX {
                    break;
                }
                listed.extend_from_slice(&(key.len() as u16).to_le_bytes());
                listed.extend_from_slice(&key);
                count += 1;
            }
            Ok((count, listed))
        }
        // The signing service's requests (crate::signing), not storage.
        StorageOperation::Identity | StorageOperation::Sign => {
            Ok((Status::InvalidArgument.code(), Vec::new()))
        }
    };
    match result {
        Ok(answer) => answer,
        Err(RegistryError::BadKey) => (Status::InvalidArgument.code(), Vec::new()),
        Err(RegistryError::QuotaExceeded) => (Status::QuotaExceeded.code(), Vec::new()),
        Err(_) => (Status::Failed.code(), Vec::new()),
    }
}
