/* placeholder */
typedef int memvfs_placeholder;
