//! A tree as the store reads it: sled with the overlay's writes not yet applied laid over it
//! ([`super::overlay`]). It answers the reads sled's own tree does — a point read, ranges in
//! either direction, a prefix, the whole tree — so that every read sees every appended write.

use std::collections::VecDeque;
use std::ops::{Bound, RangeBounds};

use sled::IVec;

use super::base::{BaseRange, BaseTree};
use super::overlay::Overlay;
use crate::store::StoreError;

type Item = Result<(IVec, IVec), StoreError>;

#[derive(Clone, Copy)]
pub(super) struct TreeView<'a> {
    pub base: BaseTree<'a>,
    pub number: u8,
    pub overlay: &'a Overlay,
}

impl<'a> TreeView<'a> {
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<IVec>, StoreError> {
        match self.overlay.get(self.number, key.as_ref()) {
            Some(value) => Ok(value),
            None => self.base.get(self.number, key.as_ref()),
        }
    }

    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Merged<'a> {
        let lower = owned(range.start_bound());
        let upper = owned(range.end_bound());
        let overlay = self.overlay.entries(self.number, (borrowed(&lower), borrowed(&upper)));
        Merged::new(self.base.range(self.number, lower, upper), overlay)
    }

    pub fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Merged<'a> {
        let prefix = prefix.as_ref().to_vec();
        match first_key_after_prefix(&prefix) {
            Some(end) => self.range(prefix..end),
            None => self.range(prefix..),
        }
    }

    pub fn iter(&self) -> Merged<'a> {
        self.range::<Vec<u8>, _>(..)
    }
}

/// The least key greater than every key that starts with `prefix`; none when every byte of the
/// prefix is 0xff.
fn first_key_after_prefix(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn owned<K: AsRef<[u8]>>(bound: Bound<&K>) -> Bound<Vec<u8>> {
    match bound {
        Bound::Included(key) => Bound::Included(key.as_ref().to_vec()),
        Bound::Excluded(key) => Bound::Excluded(key.as_ref().to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn borrowed(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key.as_slice()),
        Bound::Excluded(key) => Bound::Excluded(key.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The base's entries in a range with the overlay's laid over them: an overlay entry replaces
/// sled's under the same key, and a removal hides it. Read from one end only: forwards, or
/// backwards after `.rev()`.
///
/// sled's iterator is not a snapshot: the applier may put an overlay entry into sled while this
/// reads, and sled then gives out a key the overlay gave out already (even after it said it had
/// no more). So sled's entries are taken only past the last key given out.
pub(super) struct Merged<'a> {
    sled: BaseRange<'a>,
    overlay: VecDeque<(Vec<u8>, Option<IVec>)>,
    /// sled's next entry from the end being read, taken but not yet given out.
    peeked: Option<Item>,
    /// The last key given out (or hidden by a removal).
    last: Option<Vec<u8>>,
}

impl<'a> Merged<'a> {
    pub fn keys(self) -> impl DoubleEndedIterator<Item = Result<IVec, StoreError>> + 'a {
        self.map(|item| item.map(|(key, _)| key))
    }

    fn new(sled: BaseRange<'a>, overlay: VecDeque<(Vec<u8>, Option<IVec>)>) -> Merged<'a> {
        Merged { sled, overlay, peeked: None, last: None }
    }

    /// Whether `key` lies past the last key given out, reading `forwards` or back.
    fn is_new(&self, key: &[u8], forwards: bool) -> bool {
        match &self.last {
            None => true,
            Some(last) if forwards => key > last.as_slice(),
            Some(last) => key < last.as_slice(),
        }
    }

    /// sled's next entry past the last key given out, from the front (`forwards`) or back.
    fn peek_sled(&mut self, forwards: bool) {
        while self.peeked.is_none() {
            let next = if forwards { self.sled.next() } else { self.sled.next_back() };
            match next {
                Some(Ok((key, _))) if !self.is_new(&key, forwards) => continue,
                next => {
                    self.peeked = next;
                    return;
                }
            }
        }
    }

    /// The next entry from the front (`forwards`) or the back.
    fn step(&mut self, forwards: bool) -> Option<Item> {
        loop {
            self.peek_sled(forwards);
            let overlay_key = if forwards { self.overlay.front() } else { self.overlay.back() }
                .map(|(key, _)| key.as_slice());
            let take_overlay = match (&self.peeked, overlay_key) {
                (Some(Err(_)), _) => return self.peeked.take(),
                (None, None) => return None,
                (Some(Ok(_)), None) => false,
                (None, Some(_)) => true,
                (Some(Ok((sled_key, _))), Some(overlay_key)) => {
                    let order = overlay_key.cmp(sled_key.as_ref());
                    if order == std::cmp::Ordering::Equal {
                        // The overlay's write is newer than what sled holds under the key.
                        self.peeked = None;
                        true
                    } else {
                        (order == std::cmp::Ordering::Less) == forwards
                    }
                }
            };
            if !take_overlay {
                let taken = self.peeked.take();
                if let Some(Ok((key, _))) = &taken {
                    self.last = Some(key.to_vec());
                }
                return taken;
            }
            let taken = if forwards { self.overlay.pop_front() } else { self.overlay.pop_back() };
            let (key, value) = taken.expect("an overlay entry was looked at");
            self.last = Some(key.clone());
            if let Some(value) = value {
                return Some(Ok((IVec::from(key), value)));
            }
            // A removal: the key is gone, whatever sled still holds.
        }
    }
}

impl Iterator for Merged<'_> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        self.step(true)
    }
}

impl DoubleEndedIterator for Merged<'_> {
    fn next_back(&mut self) -> Option<Item> {
        self.step(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tree_store::ops::Op;

    fn keys_and_values(items: impl Iterator<Item = Item>) -> Vec<(String, String)> {
        items
            .map(|item| {
                let (key, value) = item.unwrap();
                (
                    String::from_utf8(key.to_vec()).unwrap(),
                    String::from_utf8(value.to_vec()).unwrap(),
                )
            })
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
    }

    fn op(key: &str, value: Option<&str>) -> Op {
        Op { tree: 3, key: key.as_bytes().to_vec(), value: value.map(|v| v.as_bytes().to_vec()) }
    }

    #[test]
    fn the_overlay_replaces_and_hides_what_sled_holds_in_either_direction() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("t").unwrap();
        for key in ["a/1", "a/2", "a/3", "b/1"] {
            tree.insert(key, format!("sled {key}").as_bytes()).unwrap();
        }
        let overlay = Overlay::default();
        // Older, sealed: a/2 changed, a/3 removed; newer, open: a/2 changed again, a/0 and a/4
        // added, and a/5 added then removed.
        overlay.put(1, &[op("a/2", Some("old a/2")), op("a/3", None), op("a/5", Some("a/5"))]);
        overlay.seal();
        overlay
            .put(2, &[op("a/2", Some("new a/2")), op("a/0", Some("a/0")), op("a/4", Some("a/4"))]);
        overlay.put(3, &[op("a/5", None)]);
        let view = TreeView { base: BaseTree::Sled(&tree), number: 3, overlay: &overlay };

        let expected =
            pairs(&[("a/0", "a/0"), ("a/1", "sled a/1"), ("a/2", "new a/2"), ("a/4", "a/4")]);
        assert_eq!(keys_and_values(view.scan_prefix("a/")), expected);
        let mut reversed = expected.clone();
        reversed.reverse();
        assert_eq!(keys_and_values(view.scan_prefix("a/").rev()), reversed);
        assert_eq!(
            keys_and_values(view.range("a/1".."a/4")),
            pairs(&[("a/1", "sled a/1"), ("a/2", "new a/2")])
        );
        assert_eq!(view.iter().count(), 5, "b/1 too");
        assert_eq!(view.get("a/2").unwrap().unwrap(), "new a/2".as_bytes());
        assert_eq!(view.get("a/3").unwrap(), None, "removed, though sled holds it");
        assert_eq!(view.get("b/1").unwrap().unwrap(), "sled b/1".as_bytes());
        assert_eq!(view.scan_prefix("a/").keys().next_back().unwrap().unwrap(), "a/4".as_bytes());
    }
}
