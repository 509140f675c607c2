// Test support for the images layer: tar layers built in memory with libarchive's write API.
// Test builds only.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace berth {

// One entry of a test layer.
struct TarEntry {
  std::string path;
  mode_t type = AE_IFREG;
  std::string content;   // regular files
  std::string target;    // symlink target
  std::string hardlink;  // makes the entry a hard link to this path
  mode_t perm = 0644;
  int64_t uid = 0;
  int64_t gid = 0;
  time_t mtime = 1000;
  dev_t rdev = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

inline TarEntry Entry(std::string path, mode_t type, mode_t perm) {
  TarEntry e;
  e.path = std::move(path);
  e.type = type;
  e.perm = perm;
  return e;
}
inline TarEntry File(std::string path, std::string content = "data") {
  TarEntry e = Entry(std::move(path), AE_IFREG, 0644);
  e.content = std::move(content);
  return e;
}
inline TarEntry Dir(std::string path, mode_t perm = 0755) {
  return Entry(std::move(path), AE_IFDIR, perm);
}
inline TarEntry Symlink(std::string path, std::string target) {
  TarEntry e = Entry(std::move(path), AE_IFLNK, 0777);
  e.target = std::move(target);
  return e;
}
inline TarEntry Device(std::string path, mode_t type, dev_t rdev) {
  TarEntry e = Entry(std::move(path), type, 0660);
  e.rdev = rdev;
  return e;
}

enum class Compression { kNone, kGzip, kZstd, kBzip2, kXz };

inline la_ssize_t AppendToString(archive*, void* client, const void* buf, size_t n) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

// A tar (pax) archive of `entries`, built with libarchive's write API.
inline std::string MakeTar(const std::vector<TarEntry>& entries, Compression compression) {
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(),
                                                            &archive_write_free);
  archive_write_set_format_pax_restricted(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);  // no zero padding after the stream
  if (compression == Compression::kGzip) archive_write_add_filter_gzip(a.get());
  if (compression == Compression::kZstd) archive_write_add_filter_zstd(a.get());
  if (compression == Compression::kBzip2) archive_write_add_filter_bzip2(a.get());
  if (compression == Compression::kXz) archive_write_add_filter_xz(a.get());
  std::string out;
  EXPECT_EQ(archive_write_open(a.get(), &out, nullptr, AppendToString, nullptr), ARCHIVE_OK);
  for (const TarEntry& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.path.c_str());
    archive_entry_set_filetype(entry, e.type);
    archive_entry_set_perm(entry, e.perm);
    archive_entry_set_uid(entry, e.uid);
    archive_entry_set_gid(entry, e.gid);
    archive_entry_set_mtime(entry, e.mtime, 0);
    if (e.type == AE_IFLNK) archive_entry_set_symlink(entry, e.target.c_str());
    if (!e.hardlink.empty()) archive_entry_set_hardlink(entry, e.hardlink.c_str());
    if (e.type == AE_IFCHR || e.type == AE_IFBLK) archive_entry_set_rdev(entry, e.rdev);
    for (const auto& [name, value] : e.xattrs) {
      archive_entry_xattr_add_entry(entry, name.c_str(), value.data(), value.size());
    }
    archive_entry_set_size(entry, static_cast<la_int64_t>(e.content.size()));
    EXPECT_EQ(archive_write_header(a.get(), entry), ARCHIVE_OK) << archive_error_string(a.get());
    if (!e.content.empty()) archive_write_data(a.get(), e.content.data(), e.content.size());
    archive_entry_free(entry);
  }
  EXPECT_EQ(archive_write_close(a.get()), ARCHIVE_OK);
  return out;
}

}  // namespace berth
