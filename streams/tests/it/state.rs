//! State stores on real RocksDB.

use brook_streams::state::KeyValueStore;
use brook_streams::state::StateBackend;
use brook_streams::state::cache::CachedStore;
use brook_streams::state::rocksdb::RocksDbBackend;

#[test]
fn rocksdb_store_survives_reopen_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut b = RocksDbBackend::new(dir.path().join("task"), 8 << 20);
        let mut st = CachedStore::new(b.open("counts").unwrap(), 1000);
        for k in 0..5000u32 {
            st.put(&k.to_be_bytes(), &(k * 2).to_be_bytes()).unwrap();
        }
        st.delete(&7u32.to_be_bytes()).unwrap();
        st.flush().unwrap();
        let mut other = b.open("other").unwrap();
        other.put(b"x", b"y").unwrap();
        other.flush().unwrap();
    }
    let mut b = RocksDbBackend::new(dir.path().join("task"), 8 << 20);
    let mut st = b.open("counts").unwrap();
    assert_eq!(st.get(&10u32.to_be_bytes()).unwrap().as_deref(), Some(&20u32.to_be_bytes()[..]));
    assert_eq!(st.get(&7u32.to_be_bytes()).unwrap(), None);
    let mut n = 0;
    st.scan(&100u32.to_be_bytes(), Some(&200u32.to_be_bytes()), &mut |_, _| {
        n += 1;
        true
    })
    .unwrap();
    assert_eq!(n, 100);
    st.delete_range(&0u32.to_be_bytes(), &1000u32.to_be_bytes()).unwrap();
    assert_eq!(st.get(&10u32.to_be_bytes()).unwrap(), None);
    assert_eq!(b.open("other").unwrap().get(b"x").unwrap().as_deref(), Some(&b"y"[..]));
}

#[test]
fn cache_scans_see_unflushed_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = RocksDbBackend::new(dir.path(), 8 << 20);
    let mut st = CachedStore::new(b.open("s").unwrap(), 10);
    for k in 0..25u8 {
        st.put(&[k], &[k]).unwrap();
    }
    st.delete(&[3]).unwrap();
    let mut keys = Vec::new();
    st.scan(&[0], None, &mut |k, _| {
        keys.push(k[0]);
        true
    })
    .unwrap();
    assert_eq!(keys.len(), 24);
    assert!(!keys.contains(&3));
}
