typedef int adapter_lmdb_placeholder;
