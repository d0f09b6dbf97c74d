//! The boot-image index: how the host tells the hypervisor which images to
//! start its VMs with.
//!
//! Before the machine starts, the loader (QEMU's `-device loader`, or the
//! firmware on a board) places the images of every VM (a Linux kernel, its
//! initramfs and command line, a test guest) in the staging region, and an
//! index at the region's base. The hypervisor copies a VM's images into the
//! VM's RAM each time it starts the VM, so a VM can be restarted from
//! pristine images. The index is binary and little-endian; the hypervisor
//! checks every field before it uses one.
//!
//! Layout: a 24-byte header (`magic`, `version: u32`, `count: u32`,
//! `size: u64` of the whole index), then `count` entries of 24 bytes
//! (`kind: u32`, `machine: u32`, `offset: u64` from the staging base,
//! `length: u64`).

/// The first eight bytes of an index.
pub const MAGIC: [u8; 8] = *b"ELASBOOT";
/// The index format this code reads and writes.
pub const VERSION: u32 = 1;
/// Bytes in the header.
pub const HEADER_SIZE: usize = 24;
/// Bytes in an entry.
pub const ENTRY_SIZE: usize = 24;
/// The most entries an index may hold.
pub const MAX_ENTRIES: usize = 32;
/// Images start at this alignment within the staging region.
pub const IMAGE_ALIGNMENT: u64 = 0x1000;

/// What an image is.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// An arm64 Linux `Image`.
    LinuxKernel = 1,
    /// An initramfs (cpio archive).
    Initramfs = 2,
    /// The kernel command line (UTF-8, no terminator).
    CommandLine = 3,
    /// A flat binary entered at the base of the VM's RAM (the test guest).
    FlatBinary = 4,
    /// Parameters copied to the VM's parameter page, the last page of its RAM.
    Parameters = 5,
}

impl ImageKind {
    const fn from_number(number: u32) -> Option<Self> {
        match number {
            1 => Some(Self::LinuxKernel),
            2 => Some(Self::Initramfs),
            3 => Some(Self::CommandLine),
            4 => Some(Self::FlatBinary),
            5 => Some(Self::Parameters),
            _ => None,
        }
    }
}

/// One image of the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Image {
    /// What it is.
    pub kind: ImageKind,
    /// The index of the VM it belongs to, in the board's VM table.
    pub machine: u32,
    /// Where it starts, from the staging region's base.
    pub offset: u64,
    /// Its length in bytes.
    pub length: u64,
}

/// What is wrong with an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexError {
    /// No index: the magic is absent.
    NoMagic,
    /// An index of a format this code does not know.
    UnknownVersion,
    /// The header's counts or sizes do not fit the staging region.
    BadHeader,
    /// Entry `n` has an unknown kind.
    UnknownKind(usize),
    /// Entry `n` lies (partly) outside the staging region or overlaps the index.
    OutOfBounds(usize),
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// A checked index over the bytes of a staging region.
#[derive(Clone, Copy, Debug)]
pub struct Index<'a> {
    staging: &'a [u8],
    count: usize,
}

impl<'a> Index<'a> {
    /// Checks the index at the start of `staging` (the whole staging region).
    pub fn parse(staging: &'a [u8]) -> Result<Self, IndexError> {
        if staging.len() < HEADER_SIZE || staging[..8] != MAGIC {
            return Err(IndexError::NoMagic);
        }
        if read_u32(staging, 8) != VERSION {
            return Err(IndexError::UnknownVersion);
        }
        let count = read_u32(staging, 12) as usize;
        let size = read_u64(staging, 16);
        if count > MAX_ENTRIES
            || size != (HEADER_SIZE + count * ENTRY_SIZE) as u64
            || size > staging.len() as u64
        {
            return Err(IndexError::BadHeader);
        }
        let index = Self { staging, count };
        for number in 0..count {
            let at = HEADER_SIZE + number * ENTRY_SIZE;
            ImageKind::from_number(read_u32(staging, at)).ok_or(IndexError::UnknownKind(number))?;
            let offset = read_u64(staging, at + 8);
            let length = read_u64(staging, at + 16);
            let end = offset.checked_add(length).ok_or(IndexError::OutOfBounds(number))?;
            if offset < size || end > staging.len() as u64 {
                return Err(IndexError::OutOfBounds(number));
            }
        }
        Ok(index)
    }

    /// Every image, in index order.
    pub fn images(&self) -> impl Iterator<Item = Image> + 'a {
        let staging = self.staging;
        (0..self.count).map(move |number| {
            let at = HEADER_SIZE + number * ENTRY_SIZE;
            Image {
                // Checked in `parse`.
                kind: ImageKind::from_number(read_u32(staging, at))
                    .unwrap_or(ImageKind::FlatBinary),
                machine: read_u32(staging, at + 4),
                offset: read_u64(staging, at + 8),
                length: read_u64(staging, at + 16),
            }
        })
    }

    /// The first image of `kind` for VM `machine`.
    pub fn find(&self, machine: usize, kind: ImageKind) -> Option<Image> {
        self.images().find(|image| image.machine as usize == machine && image.kind == kind)
    }

    /// The bytes of `image`.
    pub fn bytes(&self, image: &Image) -> &'a [u8] {
        // Bounds checked in `parse`.
        &self.staging[image.offset as usize..(image.offset + image.length) as usize]
    }
}

/// Builds an index and the staging layout on the host.
#[cfg(not(target_os = "none"))]
pub mod builder {
    use super::*;

    /// Where each image goes: (image, its bytes).
    pub struct Layout {
        /// The index bytes, to be placed at the staging base.
        pub index: Vec<u8>,
        /// Every image with the offset chosen for it.
        pub images: Vec<Image>,
    }

    /// Lays out images of the given kinds, machines and lengths one after the
    /// other after the index, each aligned to [`IMAGE_ALIGNMENT`]. Fails if
    /// they do not fit `staging_size`.
    pub fn layout(
        requests: &[(ImageKind, u32, u64)],
        staging_size: u64,
    ) -> Result<Layout, IndexError> {
        if requests.len() > MAX_ENTRIES {
            return Err(IndexError::BadHeader);
        }
        let size = (HEADER_SIZE + requests.len() * ENTRY_SIZE) as u64;
        let mut index = Vec::with_capacity(size as usize);
        index.extend_from_slice(&MAGIC);
        index.extend_from_slice(&VERSION.to_le_bytes());
        index.extend_from_slice(&(requests.len() as u32).to_le_bytes());
        index.extend_from_slice(&size.to_le_bytes());
        let mut next = size.next_multiple_of(IMAGE_ALIGNMENT);
        let mut images = Vec::new();
        for (number, &(kind, machine, length)) in requests.iter().enumerate() {
            let image = Image { kind, machine, offset: next, length };
            next = (next + length).next_multiple_of(IMAGE_ALIGNMENT);
            if next > staging_size {
                return Err(IndexError::OutOfBounds(number));
            }
            index.extend_from_slice(&(kind as u32).to_le_bytes());
            index.extend_from_slice(&machine.to_le_bytes());
            index.extend_from_slice(&image.offset.to_le_bytes());
            index.extend_from_slice(&length.to_le_bytes());
            images.push(image);
        }
        Ok(Layout { index, images })
    }

    /// The bytes of a staging region holding `images` (kind, VM index, bytes):
    /// the index followed by each image. Only as long as its last image.
    pub fn compose(
        images: &[(ImageKind, u32, &[u8])],
        staging_size: u64,
    ) -> Result<Vec<u8>, IndexError> {
        let requests: Vec<_> = images
            .iter()
            .map(|&(kind, machine, bytes)| (kind, machine, bytes.len() as u64))
            .collect();
        let layout = layout(&requests, staging_size)?;
        let end = layout.images.iter().map(|image| image.offset + image.length).max();
        let mut staging = vec![0u8; end.unwrap_or(layout.index.len() as u64) as usize];
        staging[..layout.index.len()].copy_from_slice(&layout.index);
        for (image, &(_, _, bytes)) in layout.images.iter().zip(images) {
            staging[image.offset as usize..(image.offset + image.length) as usize]
                .copy_from_slice(bytes);
        }
        Ok(staging)
    }
}

#[cfg(test)]
mod tests {
    use super::builder::layout;
    use super::*;

    fn staging_with(requests: &[(ImageKind, u32, u64)], size: u64) -> Vec<u8> {
        let contents: Vec<Vec<u8>> =
            requests.iter().map(|&(kind, _, length)| vec![kind as u8; length as usize]).collect();
        let images: Vec<_> = requests
            .iter()
            .zip(&contents)
            .map(|(&(kind, machine, _), bytes)| (kind, machine, bytes.as_slice()))
            .collect();
        let mut staging = super::builder::compose(&images, size).unwrap();
        staging.resize(size as usize, 0);
        staging
    }

    #[test]
    fn layout_round_trips_through_parse() {
        let requests = [
            (ImageKind::LinuxKernel, 0, 10_000),
            (ImageKind::Initramfs, 0, 5_000),
            (ImageKind::CommandLine, 0, 20),
            (ImageKind::FlatBinary, 1, 300),
        ];
        let staging = staging_with(&requests, 1 << 20);
        let index = Index::parse(&staging).unwrap();
        let images: Vec<_> = index.images().collect();
        assert_eq!(images.len(), 4);
        for (image, request) in images.iter().zip(requests) {
            assert_eq!((image.kind, image.machine, image.length), request);
            assert_eq!(image.offset % IMAGE_ALIGNMENT, 0);
            assert!(index.bytes(image).iter().all(|&byte| byte == image.kind as u8));
        }
        assert_eq!(index.find(1, ImageKind::FlatBinary).unwrap().length, 300);
        assert_eq!(index.find(1, ImageKind::LinuxKernel), None);
    }

    #[test]
    fn refuses_what_does_not_fit() {
        assert!(layout(&[(ImageKind::LinuxKernel, 0, 1 << 20)], 1 << 20).is_err());
    }

    #[test]
    fn rejects_corrupt_indexes() {
        let good = staging_with(&[(ImageKind::LinuxKernel, 0, 100)], 0x4000);
        assert!(Index::parse(&good).is_ok());
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(Index::parse(&bad).unwrap_err(), IndexError::NoMagic);
        let mut bad = good.clone();
        bad[8] = 9;
        assert_eq!(Index::parse(&bad).unwrap_err(), IndexError::UnknownVersion);
        let mut bad = good.clone();
        bad[12] = 200;
        assert_eq!(Index::parse(&bad).unwrap_err(), IndexError::BadHeader);
        let mut bad = good.clone();
        bad[HEADER_SIZE] = 77;
        assert_eq!(Index::parse(&bad).unwrap_err(), IndexError::UnknownKind(0));
        let mut bad = good.clone();
        bad[HEADER_SIZE + 16..HEADER_SIZE + 24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(Index::parse(&bad).unwrap_err(), IndexError::OutOfBounds(0));
        let mut bad = good.clone();
        bad[HEADER_SIZE + 8..HEADER_SIZE + 16].copy_from_slice(&0u64.to_le_bytes());
        assert_eq!(Index::parse(&bad).unwrap_err(), IndexError::OutOfBounds(0));
        // Every truncation fails cleanly.
        for length in 0..HEADER_SIZE + ENTRY_SIZE {
            assert!(Index::parse(&good[..length]).is_err());
        }
    }
}
