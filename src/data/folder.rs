// SPDX-License-Identifier: MIT OR Apache-2.0
//! A plain folder of images.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// File extensions read as images (case-insensitive).
pub const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

pub fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// The images directly inside `dir`, sorted by name so that runs are reproducible.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("reading image folder {}", dir.display()), e))?;
    let mut images = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| Error::io(format!("reading image folder {}", dir.display()), e))?
            .path();
        if path.is_file() && is_image(&path) {
            images.push(path);
        }
    }
    images.sort();
    if images.is_empty() {
        return Err(Error::Data(format!(
            "no images ({}) in {}",
            IMAGE_EXTENSIONS.join(", "),
            dir.display()
        )));
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_only_images_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.PNG", "a.jpg", "c.bmp", "notes.txt"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.png")).unwrap();
        let names: Vec<String> = list_images(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.jpg", "b.PNG", "c.bmp"]);
        std::fs::remove_file(dir.path().join("a.jpg")).unwrap();
        std::fs::remove_file(dir.path().join("b.PNG")).unwrap();
        std::fs::remove_file(dir.path().join("c.bmp")).unwrap();
        let err = list_images(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no images"), "{err}");
    }
}
