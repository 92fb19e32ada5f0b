//! The trees gateways keep their own records in (the sandbox's ledger, Stripe's attempt log,
//! M-Pesa's checkout ids), written through the
//! write-ahead log like every change set: a gateway's writes become durable with the engine's
//! next log sync, and after a crash they are there exactly as far as the log says.

use kassa_gateways::GatewayError;
use kassa_gateways::trees::{Entry, Put, Trees};

use super::ops::Op;
use super::view::TreeView;
use super::{TREE_NAMES, TreeStore};
use crate::store::StoreError;

/// The gateways' trees; a log record numbers them from [`GATEWAY_TREES_FIRST`] in this order, so
/// a new one goes at the end.
pub(super) const GATEWAY_TREE_NAMES: [&str; 12] = kassa_gateways::trees::ALL;

/// The log's number for the first gateway tree: far past the engine's own trees, so that either
/// list can grow without renumbering the other.
pub(super) const GATEWAY_TREES_FIRST: u8 = 128;

const _: () = assert!(TREE_NAMES.len() < GATEWAY_TREES_FIRST as usize);
const _: () = assert!(GATEWAY_TREES_FIRST as usize + GATEWAY_TREE_NAMES.len() <= 256);

fn gateway_error(error: StoreError) -> GatewayError {
    GatewayError::Storage(error.to_string())
}

impl TreeStore {
    /// The log's number for the gateway tree `name`, and the tree as reads see it.
    pub(super) fn gateway_tree(&self, name: &str) -> Result<(u8, TreeView<'_>), GatewayError> {
        let position = GATEWAY_TREE_NAMES
            .iter()
            .position(|known| *known == name)
            .ok_or_else(|| GatewayError::Storage(format!("no gateway tree {name}")))?;
        let number = GATEWAY_TREES_FIRST + u8::try_from(position).expect("few gateway trees");
        Ok((number, self.numbered(number)))
    }

    fn ops_of_puts(&self, puts: &[Put<'_>]) -> Result<Vec<Op>, GatewayError> {
        puts.iter()
            .map(|put| {
                let (tree, _) = self.gateway_tree(put.tree)?;
                Ok(Op { tree, key: put.key.to_vec(), value: Some(put.value.to_vec()) })
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl Trees for TreeStore {
    fn get(&self, tree: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, GatewayError> {
        let (_, tree) = self.gateway_tree(tree)?;
        let value = tree.get(key).map_err(gateway_error)?;
        Ok(value.map(|value| value.to_vec()))
    }

    fn insert(&self, puts: &[Put<'_>]) -> Result<(), GatewayError> {
        let ops = self.ops_of_puts(puts)?;
        let order = self.write_order().map_err(gateway_error)?;
        self.append_and_apply(&order, &ops).map_err(gateway_error)
    }

    fn insert_unless_present(
        &self,
        tree: &'static str,
        key: &[u8],
        puts: &[Put<'_>],
    ) -> Result<Option<Vec<u8>>, GatewayError> {
        let ops = self.ops_of_puts(puts)?;
        let (_, checked) = self.gateway_tree(tree)?;
        let order = self.write_order().map_err(gateway_error)?;
        if let Some(present) = checked.get(key).map_err(gateway_error)? {
            return Ok(Some(present.to_vec()));
        }
        self.append_and_apply(&order, &ops).map_err(gateway_error)?;
        Ok(None)
    }

    fn range_rev(
        &self,
        tree: &'static str,
        from: &[u8],
        to: &[u8],
    ) -> Box<dyn Iterator<Item = Result<Entry, GatewayError>> + '_> {
        let tree = match self.gateway_tree(tree) {
            Ok((_, tree)) => tree,
            Err(error) => return Box::new(std::iter::once(Err(error))),
        };
        Box::new(tree.range(from.to_vec()..to.to_vec()).rev().map(|item| {
            item.map(|(key, value)| (key.to_vec(), value.to_vec())).map_err(gateway_error)
        }))
    }

    fn remove(&self, tree: &'static str, key: &[u8]) -> Result<(), GatewayError> {
        let (tree, _) = self.gateway_tree(tree)?;
        let order = self.write_order().map_err(gateway_error)?;
        self.append_and_apply(&order, &[Op { tree, key: key.to_vec(), value: None }])
            .map_err(gateway_error)
    }

    async fn sync(&self) -> Result<(), GatewayError> {
        crate::store::Durable::sync(self).wait().await.map_err(gateway_error)
    }
}
