//! End-to-end tests of the Caltech-101 download against a loopback HTTP
//! server that serves a small archive built like the real one.

mod common;

use std::fs;
use std::io::{self, BufRead, BufReader, Cursor, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use caltech_anomaly::Error;
use caltech_anomaly::data::download::{DownloadConfig, DownloadOutcome, download_dataset};
use common::TempDir;
use flate2::Compression;
use flate2::write::GzEncoder;
use md5::{Digest, Md5};
use tar::{EntryType, Header};
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

const PATH: &str = "/records/test/files/caltech-101.zip?download=1";
const ACCORDION: &[u8] = b"accordion jpeg bytes";
const BACKGROUND: &[u8] = b"background jpeg bytes";
const TMP: &[u8] = b"tmp";

// ---------------------------------------------------------------- server

/// What the server saw and how it behaves.
#[derive(Default)]
struct ServerState {
    /// Announce the full Content-Length but close after half the body.
    truncate: AtomicBool,
    requests: AtomicUsize,
    /// The N of every `Range: bytes=N-` received.
    range_starts: Mutex<Vec<u64>>,
}

struct TestServer {
    url: String,
    state: Arc<ServerState>,
}

/// Serves `body` at [`PATH`] on 127.0.0.1, one connection at a time.
fn serve(body: Vec<u8>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(ServerState::default());
    let shared = Arc::clone(&state);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            // A client that hangs up early is not the server's problem.
            let _ = respond(stream, &body, &shared);
        }
    });
    TestServer {
        url: format!("http://{addr}{PATH}"),
        state,
    }
}

fn respond(mut stream: TcpStream, body: &[u8], state: &ServerState) -> io::Result<()> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut range_start = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("range")
        {
            let start = value
                .trim()
                .strip_prefix("bytes=")
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse::<u64>().ok())
                .expect("only `bytes=N-` ranges are expected");
            range_start = Some(start);
        }
    }
    if request_line.split_whitespace().nth(1) != Some(PATH) {
        write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return stream.shutdown(Shutdown::Write);
    }

    let len = body.len() as u64;
    let (status, start, extra) = match range_start {
        Some(start) => {
            state.range_starts.lock().unwrap().push(start);
            if start >= len {
                write!(
                    stream,
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\n\
                     Content-Length: 0\r\nConnection: close\r\n\r\n"
                )?;
                return stream.shutdown(Shutdown::Write);
            }
            let range = format!("Content-Range: bytes {start}-{}/{len}\r\n", len - 1);
            ("206 Partial Content", start as usize, range)
        }
        None => ("200 OK", 0, String::new()),
    };
    let payload = &body[start..];
    let sent = if state.truncate.load(Ordering::SeqCst) {
        &payload[..payload.len() / 2]
    } else {
        payload
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/zip\r\nContent-Length: {}\r\n\
         {extra}Connection: close\r\n\r\n",
        payload.len()
    )?;
    stream.write_all(sent)?;
    stream.flush()?;
    stream.shutdown(Shutdown::Write)
}

// -------------------------------------------------------------- archives

type TarGz = tar::Builder<GzEncoder<Vec<u8>>>;

fn tar_gz(add: impl FnOnce(&mut TarGz)) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    add(&mut builder);
    builder.into_inner().unwrap().finish().unwrap()
}

fn add_dir(builder: &mut TarGz, path: &str) {
    let mut header = Header::new_gnu();
    header.set_entry_type(EntryType::Directory);
    header.set_mode(0o755);
    header.set_size(0);
    builder.append_data(&mut header, path, io::empty()).unwrap();
}

fn add_file(builder: &mut TarGz, path: &str, data: &[u8]) {
    let mut header = Header::new_gnu();
    header.set_entry_type(EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    builder.append_data(&mut header, path, data).unwrap();
}

/// Appends an entry whose name is written byte for byte, bypassing the
/// checks of `tar::Builder` (which refuses `..` and absolute paths).
fn add_raw(builder: &mut TarGz, name: &str, kind: EntryType, link: Option<&str>, data: &[u8]) {
    let mut header = Header::new_gnu();
    header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    if let Some(link) = link {
        header.set_link_name(link).unwrap();
    }
    header.set_cksum();
    builder.append(&header, data).unwrap();
}

/// The layout of the real `101_ObjectCategories.tar.gz`, in miniature.
fn add_good_entries(builder: &mut TarGz) {
    add_dir(builder, "101_ObjectCategories/");
    add_dir(builder, "101_ObjectCategories/accordion/");
    add_file(
        builder,
        "101_ObjectCategories/accordion/image_0001.jpg",
        ACCORDION,
    );
    add_dir(builder, "101_ObjectCategories/BACKGROUND_Google/");
    add_file(
        builder,
        "101_ObjectCategories/BACKGROUND_Google/image_0001.jpg",
        BACKGROUND,
    );
    add_file(builder, "101_ObjectCategories/BACKGROUND_Google/tmp", TMP);
}

/// A zip laid out like the real `caltech-101.zip`, holding `tar_gz` as its
/// `caltech-101/101_ObjectCategories.tar.gz`.
fn caltech_zip(tar_gz: &[u8]) -> Vec<u8> {
    let options = SimpleFileOptions::default();
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.add_directory("caltech-101/", options).unwrap();
    // A macOS resource fork with the same file name comes first: it must be
    // skipped, or the extraction fails on its non-gzip bytes.
    zip.start_file("__MACOSX/caltech-101/101_ObjectCategories.tar.gz", options)
        .unwrap();
    zip.write_all(b"resource fork, not a tarball").unwrap();
    zip.start_file("caltech-101/Annotations.tar", options)
        .unwrap();
    zip.write_all(b"annotations are not extracted").unwrap();
    zip.start_file("caltech-101/101_ObjectCategories.tar.gz", options)
        .unwrap();
    zip.write_all(tar_gz).unwrap();
    zip.finish().unwrap().into_inner()
}

fn good_zip() -> Vec<u8> {
    caltech_zip(&tar_gz(add_good_entries))
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

// --------------------------------------------------------------- helpers

fn config(url: &str, md5: &str) -> DownloadConfig {
    DownloadConfig {
        url: url.to_owned(),
        md5: md5.to_owned(),
        show_progress: false,
    }
}

/// A dataset root that does not exist yet, inside a fresh temporary folder.
fn fresh_root() -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("caltech101");
    (dir, root)
}

fn part_file(root: &Path) -> PathBuf {
    root.join(".download").join("caltech-101.zip.part")
}

fn download_message(result: caltech_anomaly::Result<DownloadOutcome>) -> String {
    match result {
        Err(Error::Download(message)) => message,
        other => panic!("expected a download error, got {other:?}"),
    }
}

/// Every path below `dir`, symlinks not followed.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if fs::symlink_metadata(&path).unwrap().is_dir() {
                pending.push(path.clone());
            }
            found.push(path);
        }
    }
    found
}

/// Names of the entries directly in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Checks that a refused archive left no dataset, no temporary folder and no
/// file called `forbidden` anywhere in the test's temporary folder.
fn assert_nothing_extracted(dir: &TempDir, root: &Path, forbidden: &str) {
    assert!(!root.join("101_ObjectCategories").exists());
    for path in walk(dir.path()) {
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(!name.starts_with(".extract-"), "left behind {path:?}");
        assert_ne!(name, forbidden, "wrote {path:?}");
        assert!(
            !fs::symlink_metadata(&path).unwrap().is_symlink(),
            "created {path:?}"
        );
    }
}

fn download_malicious(add: impl FnOnce(&mut TarGz)) -> (TempDir, PathBuf, String) {
    let zip = caltech_zip(&tar_gz(add));
    let server = serve(zip.clone());
    let (dir, root) = fresh_root();
    let message = download_message(download_dataset(
        &root,
        &config(&server.url, &md5_hex(&zip)),
    ));
    (dir, root, message)
}

// ----------------------------------------------------------------- tests

#[test]
fn downloads_verifies_and_extracts() {
    let zip = good_zip();
    let server = serve(zip.clone());
    let (_dir, root) = fresh_root();
    let config = config(&server.url, &md5_hex(&zip));

    let outcome = download_dataset(&root, &config).unwrap();
    assert_eq!(
        outcome,
        DownloadOutcome::Downloaded {
            bytes: zip.len() as u64,
            resumed_from: 0
        }
    );
    let classes = root.join("101_ObjectCategories");
    assert_eq!(
        fs::read(classes.join("accordion/image_0001.jpg")).unwrap(),
        ACCORDION
    );
    assert_eq!(
        fs::read(classes.join("BACKGROUND_Google/image_0001.jpg")).unwrap(),
        BACKGROUND
    );
    assert_eq!(
        fs::read(classes.join("BACKGROUND_Google/tmp")).unwrap(),
        TMP
    );
    assert_eq!(names_in(&classes), ["BACKGROUND_Google", "accordion"]);
    // No temporary folder, no zip, no .part: only the dataset.
    assert_eq!(names_in(&root), ["101_ObjectCategories"]);

    let requests = server.state.requests.load(Ordering::SeqCst);
    assert_eq!(
        download_dataset(&root, &config).unwrap(),
        DownloadOutcome::AlreadyPresent
    );
    assert_eq!(server.state.requests.load(Ordering::SeqCst), requests);
}

#[test]
fn wrong_checksum_deletes_the_download() {
    let server = serve(good_zip());
    let (_dir, root) = fresh_root();
    let wrong = "0123456789abcdef0123456789abcdef";

    let message = download_message(download_dataset(&root, &config(&server.url, wrong)));
    assert!(message.contains("checksum"), "{message}");
    assert!(message.contains(wrong), "{message}");
    assert!(!root.join("101_ObjectCategories").exists());
    assert!(!part_file(&root).exists());
}

#[test]
fn truncated_transfer_is_kept_and_resumed() {
    let zip = good_zip();
    let server = serve(zip.clone());
    let (_dir, root) = fresh_root();
    let config = config(&server.url, &md5_hex(&zip));
    let half = zip.len() / 2;

    server.state.truncate.store(true, Ordering::SeqCst);
    let message = download_message(download_dataset(&root, &config));
    assert!(message.contains("resumes"), "{message}");
    assert!(message.contains("kept"), "{message}");
    assert_eq!(fs::read(part_file(&root)).unwrap(), zip[..half]);
    assert!(!root.join("101_ObjectCategories").exists());

    server.state.truncate.store(false, Ordering::SeqCst);
    let outcome = download_dataset(&root, &config).unwrap();
    assert_eq!(
        outcome,
        DownloadOutcome::Downloaded {
            bytes: zip.len() as u64,
            resumed_from: half as u64
        }
    );
    assert_eq!(*server.state.range_starts.lock().unwrap(), [half as u64]);
    assert_eq!(
        fs::read(root.join("101_ObjectCategories/accordion/image_0001.jpg")).unwrap(),
        ACCORDION
    );
    assert_eq!(names_in(&root), ["101_ObjectCategories"]);
}

#[test]
fn complete_part_file_is_extracted_without_downloading_again() {
    // An earlier run finished the transfer but was stopped before extracting.
    let zip = good_zip();
    let server = serve(zip.clone());
    let (_dir, root) = fresh_root();
    fs::create_dir_all(root.join(".download")).unwrap();
    fs::write(part_file(&root), &zip).unwrap();

    let outcome = download_dataset(&root, &config(&server.url, &md5_hex(&zip))).unwrap();
    assert_eq!(
        outcome,
        DownloadOutcome::Downloaded {
            bytes: zip.len() as u64,
            resumed_from: zip.len() as u64
        }
    );
    assert_eq!(
        *server.state.range_starts.lock().unwrap(),
        [zip.len() as u64]
    );
    assert_eq!(names_in(&root), ["101_ObjectCategories"]);
}

#[test]
fn refuses_parent_dir_entry() {
    let evil = "101_ObjectCategories/../../evil.txt";
    let (dir, root, message) = download_malicious(|b| {
        add_good_entries(b);
        add_raw(b, evil, EntryType::Regular, None, b"pwned");
    });
    assert!(message.contains(evil), "{message}");
    assert_nothing_extracted(&dir, &root, "evil.txt");
}

#[test]
fn refuses_symlink_entry() {
    let link = "101_ObjectCategories/accordion/image_0002.jpg";
    let (dir, root, message) = download_malicious(|b| {
        add_good_entries(b);
        add_raw(b, link, EntryType::Symlink, Some("/etc/passwd"), b"");
    });
    assert!(message.contains(link), "{message}");
    assert!(message.contains("not a regular file"), "{message}");
    assert_nothing_extracted(&dir, &root, "image_0002.jpg");
}

#[test]
fn refuses_hard_link_entry() {
    let link = "101_ObjectCategories/accordion/image_0002.jpg";
    let (dir, root, message) = download_malicious(|b| {
        add_good_entries(b);
        add_raw(b, link, EntryType::Link, Some("/etc/passwd"), b"");
    });
    assert!(message.contains(link), "{message}");
    assert_nothing_extracted(&dir, &root, "image_0002.jpg");
}

#[test]
fn refuses_absolute_and_foreign_paths() {
    for (name, reason) in [
        ("/101_ObjectCategories/accordion/stray.jpg", "absolute"),
        ("./Annotations/accordion/stray.jpg", "not below"),
        ("Annotations/accordion/stray.jpg", "not below"),
    ] {
        let (dir, root, message) = download_malicious(|b| {
            add_good_entries(b);
            add_raw(b, name, EntryType::Regular, None, b"stray");
        });
        assert!(message.contains(name), "{message}");
        assert!(message.contains(reason), "{message}");
        assert_nothing_extracted(&dir, &root, "stray.jpg");
    }
}

#[test]
fn missing_inner_archive_is_reported() {
    let options = SimpleFileOptions::default();
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    writer
        .start_file("caltech-101/Annotations.tar", options)
        .unwrap();
    writer.write_all(b"annotations only").unwrap();
    let zip = writer.finish().unwrap().into_inner();
    let server = serve(zip.clone());
    let (_dir, root) = fresh_root();

    let message = download_message(download_dataset(
        &root,
        &config(&server.url, &md5_hex(&zip)),
    ));
    assert!(message.contains("101_ObjectCategories.tar.gz"), "{message}");
    assert!(!root.join("101_ObjectCategories").exists());
}

#[test]
fn http_error_status_is_reported() {
    let server = serve(good_zip());
    let (_dir, root) = fresh_root();
    let url = server.url.replace("caltech-101.zip", "missing.zip");

    let message = download_message(download_dataset(
        &root,
        &config(&url, "0123456789abcdef0123456789abcdef"),
    ));
    assert!(message.contains("HTTP 404"), "{message}");
    assert!(!root.join("101_ObjectCategories").exists());
}

#[test]
fn unreachable_server_suggests_an_existing_copy() {
    // Bind and drop a listener: nothing accepts on that port any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_dir, root) = fresh_root();
    let url = format!("http://127.0.0.1:{port}/caltech-101.zip");

    let error =
        download_dataset(&root, &config(&url, "0123456789abcdef0123456789abcdef")).unwrap_err();
    assert!(matches!(error, Error::Download(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("cannot fetch"), "{message}");
    assert!(message.contains("data directory"), "{message}");
    assert!(!message.contains("--"), "{message}");
    assert!(message.contains("CALTECH101_DIR"), "{message}");
    assert!(!root.join("101_ObjectCategories").exists());
}

#[test]
fn invalid_config_is_refused() {
    let (_dir, root) = fresh_root();
    for config in [
        config(
            "ftp://example.org/caltech-101.zip",
            "0123456789abcdef0123456789abcdef",
        ),
        config("https://example.org/caltech-101.zip", "not-a-checksum"),
    ] {
        let error = download_dataset(&root, &config).unwrap_err();
        assert!(matches!(error, Error::InvalidParameter(_)), "{error:?}");
    }
    assert!(!root.exists());
}

#[test]
fn default_config_is_the_official_archive() {
    let config = DownloadConfig::default();
    assert_eq!(config.url, caltech_anomaly::data::download::CALTECH101_URL);
    assert_eq!(config.md5, caltech_anomaly::data::download::CALTECH101_MD5);
    assert!(config.show_progress);
    config.check().unwrap();
}
