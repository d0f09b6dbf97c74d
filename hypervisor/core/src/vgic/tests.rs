//! Host tests of the virtual GICv3: register values, interrupt life cycles and
//! a randomised run of the list-register protocol.

use super::*;
use std::collections::HashMap;
use std::vec::Vec;

/// The SGI_base frame within a vCPU's frame pair.
const SGI: u64 = 0x1_0000;

const GICD_CTLR: u64 = 0x0000;
const GICD_TYPER: u64 = 0x0004;
const GICD_IIDR: u64 = 0x0008;
const GICD_TYPER2: u64 = 0x000c;
const GICD_IGROUPR: u64 = 0x0080;
const GICD_ISENABLER: u64 = 0x0100;
const GICD_ICENABLER: u64 = 0x0180;
const GICD_ISPENDR: u64 = 0x0200;
const GICD_ICPENDR: u64 = 0x0280;
const GICD_ISACTIVER: u64 = 0x0300;
const GICD_ICACTIVER: u64 = 0x0380;
const GICD_IPRIORITYR: u64 = 0x0400;
const GICD_ICFGR: u64 = 0x0c00;
const GICD_IGRPMODR: u64 = 0x0d00;
const GICD_IROUTER: u64 = 0x6000;
const PIDR2: u64 = 0xffe8;

const GICR_CTLR: u64 = 0x0000;
const GICR_IIDR: u64 = 0x0004;
const GICR_TYPER: u64 = 0x0008;
const GICR_WAKER: u64 = 0x0014;
const GICR_IGROUPR0: u64 = SGI + 0x0080;
const GICR_ISENABLER0: u64 = SGI + 0x0100;
const GICR_ICENABLER0: u64 = SGI + 0x0180;
const GICR_ISPENDR0: u64 = SGI + 0x0200;
const GICR_ICPENDR0: u64 = SGI + 0x0280;
const GICR_ISACTIVER0: u64 = SGI + 0x0300;
const GICR_ICACTIVER0: u64 = SGI + 0x0380;
const GICR_IPRIORITYR: u64 = SGI + 0x0400;
const GICR_ICFGR0: u64 = SGI + 0x0c00;
const GICR_ICFGR1: u64 = SGI + 0x0c04;
const GICR_IGRPMODR0: u64 = SGI + 0x0d00;
const GICR_NSACR: u64 = SGI + 0x0e00;

/// What Linux writes to `GICD_CTLR`: ARE, EnableGrp1 and EnableGrp0.
const LINUX_CONTROL: u64 = 0x13;

fn read_distributor(gic: &mut VirtualGic, offset: u64) -> u64 {
    gic.distributor_read(offset, 4).unwrap()
}

fn write_distributor(gic: &mut VirtualGic, offset: u64, value: u64) -> Kick {
    gic.distributor_write(offset, 4, value).unwrap()
}

fn read_redistributor(gic: &mut VirtualGic, vcpu: usize, offset: u64) -> u64 {
    gic.redistributor_read(vcpu as u64 * REDISTRIBUTOR_STRIDE + offset, 4).unwrap()
}

fn write_redistributor(gic: &mut VirtualGic, vcpu: usize, offset: u64, value: u64) -> Kick {
    gic.redistributor_write(vcpu as u64 * REDISTRIBUTOR_STRIDE + offset, 4, value).unwrap()
}

/// The bitmap register word and bit of an INTID.
fn word_and_bit(intid: u32) -> (u64, u64) {
    (u64::from(intid / 32) * 4, 1 << (intid % 32))
}

/// Enables SPI `intid` through `GICD_ISENABLER<n>`.
fn enable_shared(gic: &mut VirtualGic, intid: u32) -> Kick {
    let (word, bit) = word_and_bit(intid);
    write_distributor(gic, GICD_ISENABLER + word, bit)
}

/// Makes SPI `intid` edge-triggered.
fn make_edge(gic: &mut VirtualGic, intid: u32) {
    let word = u64::from(intid / 16) * 4;
    let old = read_distributor(gic, GICD_ICFGR + word);
    let bit = 2 << (2 * (intid % 16));
    write_distributor(gic, GICD_ICFGR + word, old | bit);
}

/// Routes SPI `intid` with a 64-bit write of `GICD_IROUTER<n>`.
fn route(gic: &mut VirtualGic, intid: u32, value: u64) -> Kick {
    gic.distributor_write(GICD_IROUTER + 8 * u64::from(intid), 8, value).unwrap()
}

/// Sets the priority of SPI `intid` with a byte write.
fn set_shared_priority(gic: &mut VirtualGic, intid: u32, priority: u8) {
    gic.distributor_write(GICD_IPRIORITYR + u64::from(intid), 1, u64::from(priority)).unwrap();
}

/// A GIC after the distributor part of Linux's boot: groups enabled, every
/// interrupt in group 1.
fn booted(vcpus: usize) -> VirtualGic {
    let mut gic = VirtualGic::new(vcpus);
    write_distributor(&mut gic, GICD_CTLR, LINUX_CONTROL);
    for word in 1..4 {
        write_distributor(&mut gic, GICD_IGROUPR + 4 * word, 0xffff_ffff);
    }
    for vcpu in 0..vcpus {
        write_redistributor(&mut gic, vcpu, GICR_WAKER, 0);
        write_redistributor(&mut gic, vcpu, GICR_IGROUPR0, 0xffff_ffff);
    }
    gic
}

/// Takes up to `slots` candidates for `vcpu`.
fn take(gic: &mut VirtualGic, vcpu: usize, slots: usize) -> (Vec<ListEntry>, bool) {
    let mut buffer = vec![ListEntry::EMPTY; slots];
    let taken = gic.take_candidates(vcpu, &mut buffer);
    buffer.truncate(taken.count);
    (buffer, taken.more_waiting)
}

/// The entries with new states.
fn with_states(entries: &[ListEntry], states: &[ListState]) -> Vec<ListEntry> {
    entries.iter().zip(states).map(|(entry, &state)| ListEntry { state, ..*entry }).collect()
}

fn intids(entries: &[ListEntry]) -> Vec<u32> {
    entries.iter().map(|entry| entry.intid).collect()
}

#[test]
fn distributor_reset_values_match_what_linux_probes() {
    let mut gic = VirtualGic::new(2);
    // DS (bit 6) and ARE (bit 4) read as one, RWP (bit 31) as zero.
    assert_eq!(read_distributor(&mut gic, GICD_CTLR), 0x50);
    let typer = read_distributor(&mut gic, GICD_TYPER);
    assert_eq!(typer & 0x1f, 3, "ITLinesNumber: SPIs up to INTID 127");
    assert_eq!((typer >> 5) & 0x7, 0, "CPUNumber is zero with ARE");
    assert_eq!((typer >> 10) & 1, 0, "SecurityExtn");
    assert_eq!((typer >> 16) & 1, 0, "MBIS");
    assert_eq!((typer >> 17) & 1, 0, "LPIS");
    assert_eq!((typer >> 19) & 0x1f, 9, "IDbits: 10 bits");
    assert_eq!((typer >> 25) & 1, 1, "No1N");
    assert_eq!(typer, 0x0248_0003);
    assert_eq!(read_distributor(&mut gic, GICD_IIDR), 0x43b);
    assert_eq!(read_distributor(&mut gic, GICD_TYPER2), 0);
    assert_eq!(read_distributor(&mut gic, PIDR2), 0x3b);
    assert_eq!((read_distributor(&mut gic, PIDR2) >> 4) & 0xf, 3, "ArchRev");
    let identification: Vec<u64> =
        (0..12).map(|index| read_distributor(&mut gic, 0xffd0 + 4 * index)).collect();
    assert_eq!(identification, [0x44, 0, 0, 0, 0x92, 0xb4, 0x3b, 0, 0x0d, 0xf0, 0x05, 0xb1]);
}

#[test]
fn redistributor_reset_values_and_last_frame() {
    let mut gic = VirtualGic::new(3);
    for vcpu in 0..3u64 {
        let base = vcpu * REDISTRIBUTOR_STRIDE;
        let typer = gic.redistributor_read(base + GICR_TYPER, 8).unwrap();
        let last = u64::from(vcpu == 2) << 4;
        assert_eq!(typer, vcpu << 32 | vcpu << 8 | last, "vCPU {vcpu}");
        assert_eq!(gic.redistributor_read(base + GICR_TYPER, 4).unwrap(), typer & 0xffff_ffff);
        assert_eq!(gic.redistributor_read(base + GICR_TYPER + 4, 4).unwrap(), typer >> 32);
        assert_eq!(gic.redistributor_read(base + PIDR2, 4).unwrap(), 0x3b);
        assert_eq!(gic.redistributor_read(base + 0xffe0, 4).unwrap(), 0x93);
        assert_eq!(gic.redistributor_read(base + GICR_IIDR, 4).unwrap(), 0x43b);
        assert_eq!(gic.redistributor_read(base + GICR_CTLR, 4).unwrap(), 0);
    }
    // SGIs edge-triggered and read-only; PPIs level-sensitive at reset.
    assert_eq!(read_redistributor(&mut gic, 1, GICR_ICFGR0), 0xaaaa_aaaa);
    assert_eq!(read_redistributor(&mut gic, 1, GICR_ICFGR1), 0);
    write_redistributor(&mut gic, 1, GICR_ICFGR0, 0);
    assert_eq!(read_redistributor(&mut gic, 1, GICR_ICFGR0), 0xaaaa_aaaa);
    // Groups reset to 1.
    assert_eq!(read_redistributor(&mut gic, 0, GICR_IGROUPR0), 0xffff_ffff);
    assert_eq!(read_distributor(&mut gic, GICD_IGROUPR + 4), 0xffff_ffff);
}

#[test]
fn waker_handshake_completes_at_once() {
    let mut gic = VirtualGic::new(2);
    // Reset: ProcessorSleep and ChildrenAsleep set.
    assert_eq!(read_redistributor(&mut gic, 1, GICR_WAKER), 0b110);
    // Linux clears ProcessorSleep and polls ChildrenAsleep until it clears.
    write_redistributor(&mut gic, 1, GICR_WAKER, 0);
    assert_eq!(read_redistributor(&mut gic, 1, GICR_WAKER), 0);
    // The other redistributor is untouched.
    assert_eq!(read_redistributor(&mut gic, 0, GICR_WAKER), 0b110);
    // ChildrenAsleep itself is read-only; ProcessorSleep brings it back.
    write_redistributor(&mut gic, 1, GICR_WAKER, 0b100);
    assert_eq!(read_redistributor(&mut gic, 1, GICR_WAKER), 0);
    write_redistributor(&mut gic, 1, GICR_WAKER, 0b010);
    assert_eq!(read_redistributor(&mut gic, 1, GICR_WAKER), 0b110);
}

#[test]
fn distributor_control_keeps_only_the_group_enables() {
    let mut gic = VirtualGic::new(1);
    write_distributor(&mut gic, GICD_CTLR, LINUX_CONTROL);
    assert_eq!(read_distributor(&mut gic, GICD_CTLR), 0x53);
    write_distributor(&mut gic, GICD_CTLR, 0xffff_ffff);
    assert_eq!(read_distributor(&mut gic, GICD_CTLR), 0x53);
    write_distributor(&mut gic, GICD_CTLR, 0);
    assert_eq!(read_distributor(&mut gic, GICD_CTLR), 0x50);
    // Read-only registers ignore writes.
    write_distributor(&mut gic, GICD_TYPER, 0);
    assert_eq!(read_distributor(&mut gic, GICD_TYPER), 0x0248_0003);
}

#[test]
fn banked_distributor_words_read_as_zero_with_affinity_routing() {
    let mut gic = VirtualGic::new(1);
    for register in [GICD_IGROUPR, GICD_ISENABLER, GICD_ISPENDR, GICD_ISACTIVER] {
        write_distributor(&mut gic, register, 0xffff_ffff);
        assert_eq!(read_distributor(&mut gic, register), 0, "{register:#x}");
    }
    assert_eq!(read_redistributor(&mut gic, 0, GICR_ISENABLER0), 0);
    assert_eq!(read_redistributor(&mut gic, 0, GICR_ISPENDR0), 0);
    write_distributor(&mut gic, GICD_IPRIORITYR, 0xffff_ffff);
    assert_eq!(read_distributor(&mut gic, GICD_IPRIORITYR), 0);
    assert_eq!(read_redistributor(&mut gic, 0, GICR_IPRIORITYR), 0);
    assert_eq!(read_distributor(&mut gic, GICD_ICFGR), 0);
    write_distributor(&mut gic, GICD_ICFGR + 4, 0xffff_ffff);
    assert_eq!(read_distributor(&mut gic, GICD_ICFGR + 4), 0);
    // Unimplemented SPIs (INTIDs 128 and up) read as zero too.
    write_distributor(&mut gic, GICD_ISENABLER + 16, 0xffff_ffff);
    assert_eq!(read_distributor(&mut gic, GICD_ISENABLER + 16), 0);
    // A single Security state: IGRPMODR and NSACR read as zero.
    write_distributor(&mut gic, GICD_IGRPMODR + 4, 0xffff_ffff);
    assert_eq!(read_distributor(&mut gic, GICD_IGRPMODR + 4), 0);
    write_redistributor(&mut gic, 0, GICR_IGRPMODR0, 0xffff_ffff);
    assert_eq!(read_redistributor(&mut gic, 0, GICR_IGRPMODR0), 0);
    write_redistributor(&mut gic, 0, GICR_NSACR, 0xffff_ffff);
    assert_eq!(read_redistributor(&mut gic, 0, GICR_NSACR), 0);
}

#[test]
fn enable_registers_set_and_clear_by_ones() {
    let mut gic = VirtualGic::new(2);
    write_distributor(&mut gic, GICD_ISENABLER + 4, 0b1011);
    write_distributor(&mut gic, GICD_ISENABLER + 4, 0b0100);
    assert_eq!(read_distributor(&mut gic, GICD_ISENABLER + 4), 0b1111);
    assert_eq!(read_distributor(&mut gic, GICD_ICENABLER + 4), 0b1111);
    write_distributor(&mut gic, GICD_ICENABLER + 4, 0b0110);
    assert_eq!(read_distributor(&mut gic, GICD_ISENABLER + 4), 0b1001);
    // Writing zeros changes nothing.
    write_distributor(&mut gic, GICD_ICENABLER + 4, 0);
    assert_eq!(read_distributor(&mut gic, GICD_ISENABLER + 4), 0b1001);
    // Redistributor: per vCPU.
    write_redistributor(&mut gic, 1, GICR_ISENABLER0, 1 << 27 | 1 << 1);
    assert_eq!(read_redistributor(&mut gic, 1, GICR_ISENABLER0), 1 << 27 | 1 << 1);
    assert_eq!(read_redistributor(&mut gic, 0, GICR_ISENABLER0), 0);
    write_redistributor(&mut gic, 1, GICR_ICENABLER0, 1 << 1);
    assert_eq!(read_redistributor(&mut gic, 1, GICR_ICENABLER0), 1 << 27);
}

#[test]
fn pending_and_active_registers_set_and_clear_by_ones() {
    let mut gic = VirtualGic::new(2);
    write_distributor(&mut gic, GICD_ISPENDR + 8, 0b110);
    assert_eq!(read_distributor(&mut gic, GICD_ISPENDR + 8), 0b110);
    assert_eq!(read_distributor(&mut gic, GICD_ICPENDR + 8), 0b110);
    write_distributor(&mut gic, GICD_ICPENDR + 8, 0b010);
    assert_eq!(read_distributor(&mut gic, GICD_ISPENDR + 8), 0b100);
    write_distributor(&mut gic, GICD_ISACTIVER + 12, 1 << 31);
    assert_eq!(read_distributor(&mut gic, GICD_ICACTIVER + 12), 1 << 31);
    write_distributor(&mut gic, GICD_ICACTIVER + 12, 1 << 31);
    assert_eq!(read_distributor(&mut gic, GICD_ISACTIVER + 12), 0);
    write_redistributor(&mut gic, 0, GICR_ISPENDR0, 1 << 5);
    write_redistributor(&mut gic, 0, GICR_ISACTIVER0, 1 << 20);
    assert_eq!(read_redistributor(&mut gic, 0, GICR_ISPENDR0), 1 << 5);
    assert_eq!(read_redistributor(&mut gic, 0, GICR_ISACTIVER0), 1 << 20);
    write_redistributor(&mut gic, 0, GICR_ICPENDR0, 1 << 5);
    write_redistributor(&mut gic, 0, GICR_ICACTIVER0, 1 << 20);
    assert_eq!(read_redistributor(&mut gic, 0, GICR_ISPENDR0), 0);
    assert_eq!(read_redistributor(&mut gic, 0, GICR_ISACTIVER0), 0);
    // Linux's reset sequence: clear everything.
    write_distributor(&mut gic, GICD_ISPENDR + 4, 0xffff_ffff);
    write_distributor(&mut gic, GICD_ICPENDR + 4, 0xffff_ffff);
    assert_eq!(read_distributor(&mut gic, GICD_ISPENDR + 4), 0);
}

#[test]
fn priorities_take_bytes_and_words_and_keep_five_bits() {
    let mut gic = VirtualGic::new(2);
    gic.distributor_write(GICD_IPRIORITYR + 40, 1, 0xff).unwrap();
    assert_eq!(gic.distributor_read(GICD_IPRIORITYR + 40, 1).unwrap(), 0xf8);
    assert_eq!(
        gic.distributor_read(GICD_IPRIORITYR + 40, 4).unwrap(),
        0xf8,
        "INTID 40 is the low byte of its word"
    );
    gic.distributor_write(GICD_IPRIORITYR + 32, 4, 0x1234_5678).unwrap();
    assert_eq!(gic.distributor_read(GICD_IPRIORITYR + 32, 4).unwrap(), 0x1030_5078);
    assert_eq!(gic.distributor_read(GICD_IPRIORITYR + 33, 1).unwrap(), 0x50);
    assert_eq!(gic.distributor_read(GICD_IPRIORITYR + 35, 1).unwrap(), 0x10);
    gic.distributor_write(GICD_IPRIORITYR + 34, 1, 0xa0).unwrap();
    assert_eq!(gic.distributor_read(GICD_IPRIORITYR + 32, 4).unwrap(), 0x10a0_5078);
    // Linux's boot value for every interrupt.
    gic.distributor_write(GICD_IPRIORITYR + 124, 4, 0xa0a0_a0a0).unwrap();
    assert_eq!(gic.distributor_read(GICD_IPRIORITYR + 127, 1).unwrap(), 0xa0);
    // Past the last SPI: read as zero.
    gic.distributor_write(GICD_IPRIORITYR + 128, 4, 0xa0a0_a0a0).unwrap();
    assert_eq!(gic.distributor_read(GICD_IPRIORITYR + 128, 4).unwrap(), 0);
    // Redistributor bytes and words, per vCPU.
    let base = REDISTRIBUTOR_STRIDE + GICR_IPRIORITYR;
    gic.redistributor_write(base + 27, 1, 0x87).unwrap();
    assert_eq!(gic.redistributor_read(base + 27, 1).unwrap(), 0x80);
    assert_eq!(gic.redistributor_read(base + 24, 4).unwrap(), 0x8000_0000);
    assert_eq!(gic.redistributor_read(GICR_IPRIORITYR + 24, 4).unwrap(), 0);
}

#[test]
fn configuration_registers_hold_the_edge_bit() {
    let mut gic = VirtualGic::new(1);
    // INTIDs 32 to 47: GICD_ICFGR2. Bit 0 of each field is reserved.
    write_distributor(&mut gic, GICD_ICFGR + 8, 0xffff_ffff);
    assert_eq!(read_distributor(&mut gic, GICD_ICFGR + 8), 0xaaaa_aaaa);
    write_distributor(&mut gic, GICD_ICFGR + 8, 0b10 << 2);
    assert_eq!(read_distributor(&mut gic, GICD_ICFGR + 8), 0b10 << 2);
    assert_eq!(read_distributor(&mut gic, GICD_ICFGR + 12), 0);
    // PPIs are programmable.
    write_redistributor(&mut gic, 0, GICR_ICFGR1, 0b10 << 22);
    assert_eq!(read_redistributor(&mut gic, 0, GICR_ICFGR1), 0b10 << 22);
}

#[test]
fn routes_take_64_and_32_bit_accesses() {
    let mut gic = VirtualGic::new(2);
    let router = GICD_IROUTER + 8 * 40;
    gic.distributor_write(router, 8, 0xffff_ffff_ffff_ffff).unwrap();
    // Reserved bits [63:40] and [30:24] read as zero.
    assert_eq!(gic.distributor_read(router, 8).unwrap(), 0x0000_00ff_80ff_ffff);
    gic.distributor_write(router, 4, 1).unwrap();
    assert_eq!(gic.distributor_read(router, 8).unwrap(), 0x0000_00ff_0000_0001);
    gic.distributor_write(router + 4, 4, 0).unwrap();
    assert_eq!(gic.distributor_read(router, 8).unwrap(), 1);
    assert_eq!(gic.distributor_read(router + 4, 4).unwrap(), 0);
    assert_eq!(gic.distributor_read(router, 4).unwrap(), 1);
    // Unimplemented SPIs read as zero; INTIDs 0 to 31 have no router.
    gic.distributor_write(GICD_IROUTER + 8 * 200, 8, 1).unwrap();
    assert_eq!(gic.distributor_read(GICD_IROUTER + 8 * 200, 8).unwrap(), 0);
    assert_eq!(gic.distributor_read(GICD_IROUTER + 8 * 31, 8), Err(AccessError::UnknownRegister));
}

#[test]
fn an_spi_routed_to_vcpu_1_reaches_only_vcpu_1() {
    let mut gic = booted(2);
    enable_shared(&mut gic, 40);
    assert_eq!(route(&mut gic, 40, 1), Kick::NONE);
    let kick = gic.raise_edge(40, 0);
    assert_eq!(kick, Kick::vcpu(1));
    assert!(!gic.has_pending(0));
    assert!(gic.has_pending(1));
    assert_eq!(take(&mut gic, 0, 4).0, []);
    let (entries, more_waiting) = take(&mut gic, 1, 4);
    assert!(!more_waiting);
    assert_eq!(intids(&entries), [40]);
    assert_eq!(entries[0].state, ListState::Pending);
    assert!(entries[0].group1);
}

#[test]
fn routing_mode_any_means_vcpu_0_and_unknown_affinities_deliver_nowhere() {
    let mut gic = booted(2);
    enable_shared(&mut gic, 41);
    route(&mut gic, 41, 1 << 31 | 1);
    gic.raise_edge(41, 0);
    assert!(gic.has_pending(0));
    assert!(!gic.has_pending(1));
    // Aff0 5 and Aff1 1 name no vCPU: the interrupt waits.
    route(&mut gic, 41, 5);
    assert!(!gic.has_pending(0) && !gic.has_pending(1));
    route(&mut gic, 41, 1 << 8 | 1);
    assert!(!gic.has_pending(0) && !gic.has_pending(1));
    assert_eq!(take(&mut gic, 1, 4).0, []);
    // Routing it to an existing vCPU releases it.
    assert_eq!(route(&mut gic, 41, 1), Kick::vcpu(1));
    assert_eq!(intids(&take(&mut gic, 1, 4).0), [41]);
}

#[test]
fn sgis_reach_the_target_list() {
    let mut gic = booted(4);
    for vcpu in 0..4 {
        write_redistributor(&mut gic, vcpu, GICR_ISENABLER0, 0xffff);
    }
    // INTID 3 to vCPUs 1 and 2.
    let kick = gic.send_sgi(0, 3 << 24 | 0b0110);
    assert_eq!(kick, Kick(0b0110));
    for vcpu in 0..4 {
        let pending = read_redistributor(&mut gic, vcpu, GICR_ISPENDR0);
        let expected = if vcpu == 1 || vcpu == 2 { 1 << 3 } else { 0 };
        assert_eq!(pending, expected, "vCPU {vcpu}");
    }
    let (entries, _) = take(&mut gic, 2, 4);
    assert_eq!(intids(&entries), [3]);
    assert!(entries[0].state == ListState::Pending && entries[0].group1);
    assert!(!entries[0].end_of_interrupt_maintenance, "SGIs are edges");
}

#[test]
fn sgis_with_routing_mode_go_to_everyone_but_the_sender() {
    let mut gic = booted(3);
    let kick = gic.send_sgi(1, 1 << 40 | 7 << 24 | 0xffff);
    assert_eq!(kick, Kick::NONE, "nothing enabled yet, nothing to take");
    for vcpu in 0..3 {
        let pending = read_redistributor(&mut gic, vcpu, GICR_ISPENDR0);
        assert_eq!(pending, if vcpu == 1 { 0 } else { 1 << 7 });
    }
    assert_eq!(write_redistributor(&mut gic, 2, GICR_ISENABLER0, 1 << 7), Kick::vcpu(2));
}

#[test]
fn sgis_to_missing_affinities_or_group_0_are_dropped() {
    let mut gic = booted(2);
    // Range selector 1: Aff0 16 and up.
    gic.send_sgi(0, 1 << 44 | 2 << 24 | 0b11);
    // Aff1 1, Aff2 1, Aff3 1.
    gic.send_sgi(0, 1 << 16 | 2 << 24 | 0b11);
    gic.send_sgi(0, 1 << 32 | 2 << 24 | 0b11);
    gic.send_sgi(0, 1 << 48 | 2 << 24 | 0b11);
    // Target list bits past the last vCPU, and a sender that does not exist.
    gic.send_sgi(0, 2 << 24 | 0b1100);
    gic.send_sgi(7, 2 << 24 | 0b11);
    for vcpu in 0..2 {
        assert_eq!(read_redistributor(&mut gic, vcpu, GICR_ISPENDR0), 0);
    }
    // A Group 1 SGI does not reach a target that made the SGI group 0.
    write_redistributor(&mut gic, 1, GICR_IGROUPR0, !(1 << 2));
    gic.send_sgi(0, 2 << 24 | 0b11);
    assert_eq!(read_redistributor(&mut gic, 0, GICR_ISPENDR0), 1 << 2);
    assert_eq!(read_redistributor(&mut gic, 1, GICR_ISPENDR0), 0);
}

#[test]
fn candidates_come_by_priority_then_intid_and_report_overflow() {
    let mut gic = booted(1);
    for (intid, priority) in [(40, 0x80), (41, 0x40), (42, 0x80), (43, 0x40), (44, 0xa0)] {
        enable_shared(&mut gic, intid);
        set_shared_priority(&mut gic, intid, priority);
    }
    // PPI 20 at the same priority as SPIs 41 and 43: lower INTID first.
    write_redistributor(&mut gic, 0, GICR_ISENABLER0, 1 << 20);
    gic.redistributor_write(GICR_IPRIORITYR + 20, 1, 0x40).unwrap();
    for intid in [44, 42, 43, 40, 41] {
        gic.raise_edge(intid, 0);
    }
    gic.raise_edge(20, 0);
    let (entries, more_waiting) = take(&mut gic, 0, 3);
    assert!(more_waiting);
    assert_eq!(intids(&entries), [20, 41, 43]);
    assert_eq!(entries[1].priority, 0x40);
    // The guest did nothing with them; with more room, everything is listed.
    gic.return_entries(0, &entries);
    let (all, more_waiting) = take(&mut gic, 0, 8);
    assert!(!more_waiting);
    assert_eq!(intids(&all), [20, 41, 43, 40, 42, 44]);
}

#[test]
fn active_interrupts_are_listed_first_whatever_their_priority() {
    let mut gic = booted(1);
    enable_shared(&mut gic, 50);
    enable_shared(&mut gic, 51);
    make_edge(&mut gic, 50);
    make_edge(&mut gic, 51);
    set_shared_priority(&mut gic, 50, 0xf0);
    gic.raise_edge(50, 0);
    let (entries, _) = take(&mut gic, 0, 4);
    gic.return_entries(0, &with_states(&entries, &[ListState::Active]));
    gic.raise_edge(51, 0);
    let (entries, more_waiting) = take(&mut gic, 0, 1);
    assert!(more_waiting);
    assert_eq!(intids(&entries), [50]);
    assert_eq!(entries[0].state, ListState::Active);
    assert_eq!(entries[0].priority, 0xf0);
    // The guest deactivates it; the pending one follows.
    gic.return_entries(0, &with_states(&entries, &[ListState::Invalid]));
    let (entries, more_waiting) = take(&mut gic, 0, 1);
    assert!(!more_waiting);
    assert_eq!(intids(&entries), [51]);
}

#[test]
fn active_interrupts_are_listed_even_when_disabled() {
    let mut gic = booted(1);
    enable_shared(&mut gic, 52);
    gic.raise_edge(52, 0);
    let (entries, _) = take(&mut gic, 0, 4);
    gic.return_entries(0, &with_states(&entries, &[ListState::Active]));
    write_distributor(&mut gic, GICD_ICENABLER + 4, 1 << 20);
    write_distributor(&mut gic, GICD_CTLR, 0);
    let (entries, _) = take(&mut gic, 0, 4);
    assert_eq!(intids(&entries), [52]);
    assert_eq!(entries[0].state, ListState::Active);
}

#[test]
fn a_level_interrupt_still_asserted_becomes_pending_again_after_deactivation() {
    let mut gic = booted(1);
    enable_shared(&mut gic, 33);
    assert_eq!(gic.set_level(33, 0, true), Kick::vcpu(0));
    let (entries, _) = take(&mut gic, 0, 4);
    assert_eq!(entries[0].state, ListState::Pending);
    assert!(entries[0].end_of_interrupt_maintenance);
    // Acknowledged: listed as active only while it is active, line high or not.
    gic.return_entries(0, &with_states(&entries, &[ListState::Active]));
    assert!(!gic.has_pending(0));
    let (entries, _) = take(&mut gic, 0, 4);
    assert_eq!(entries[0].state, ListState::Active);
    // Deactivated with the line still high: pending again.
    assert_eq!(gic.return_entries(0, &with_states(&entries, &[ListState::Invalid])), Kick::vcpu(0));
    assert!(gic.has_pending(0));
    let (entries, _) = take(&mut gic, 0, 4);
    assert_eq!(entries[0].state, ListState::Pending);
    // This time the handler quietens the device before deactivating.
    gic.return_entries(0, &with_states(&entries, &[ListState::Active]));
    assert_eq!(gic.set_level(33, 0, false), Kick::NONE);
    let (entries, _) = take(&mut gic, 0, 4);
    gic.return_entries(0, &with_states(&entries, &[ListState::Invalid]));
    assert!(!gic.has_pending(0));
    assert_eq!(take(&mut gic, 0, 4).0, []);
}

#[test]
fn a_level_interrupt_lowered_before_acknowledge_is_withdrawn() {
    let mut gic = booted(2);
    enable_shared(&mut gic, 33);
    gic.set_level(33, 0, true);
    let (entries, _) = take(&mut gic, 0, 4);
    // The line drops while the list register still says pending: the vCPU
    // holding it is kicked, and the entry comes back to nothing.
    assert_eq!(gic.set_level(33, 0, false), Kick::vcpu(0));
    assert_eq!(read_distributor(&mut gic, GICD_ISPENDR + 4), 0);
    gic.return_entries(0, &entries);
    assert_eq!(take(&mut gic, 0, 4).0, []);
    // Writing ICPENDR cannot clear an asserted level interrupt.
    gic.set_level(33, 0, true);
    write_distributor(&mut gic, GICD_ICPENDR + 4, 1 << 1);
    assert_eq!(read_distributor(&mut gic, GICD_ISPENDR + 4), 1 << 1);
    assert!(gic.has_pending(0));
}

#[test]
fn a_software_pended_level_interrupt_clears_on_acknowledge() {
    let mut gic = booted(1);
    enable_shared(&mut gic, 34);
    write_distributor(&mut gic, GICD_ISPENDR + 4, 1 << 2);
    let (entries, _) = take(&mut gic, 0, 4);
    assert_eq!(entries[0].state, ListState::Pending);
    gic.return_entries(0, &with_states(&entries, &[ListState::Invalid]));
    assert_eq!(read_distributor(&mut gic, GICD_ISPENDR + 4), 0);
    assert!(!gic.has_pending(0));
}

#[test]
fn edge_interrupts_are_not_pended_again() {
    let mut gic = booted(1);
    enable_shared(&mut gic, 45);
    make_edge(&mut gic, 45);
    gic.raise_edge(45, 0);
    let (entries, _) = take(&mut gic, 0, 4);
    assert!(!entries[0].end_of_interrupt_maintenance);
    gic.return_entries(0, &with_states(&entries, &[ListState::Invalid]));
    assert!(!gic.has_pending(0));
    assert_eq!(take(&mut gic, 0, 4).0, []);
    // A rising line latches an edge once; holding it high adds nothing.
    gic.set_level(45, 0, true);
    let (entries, _) = take(&mut gic, 0, 4);
    assert_eq!(intids(&entries), [45]);
    gic.return_entries(0, &with_states(&entries, &[ListState::Invalid]));
    gic.set_level(45, 0, true);
    assert_eq!(take(&mut gic, 0, 4).0, []);
}

#[test]
fn an_edge_arriving_while_active_is_listed_pending_and_active() {
    let mut gic = booted(1);
    enable_shared(&mut gic, 46);
    make_edge(&mut gic, 46);
    gic.raise_edge(46, 0);
    let (entries, _) = take(&mut gic, 0, 4);
    gic.return_entries(0, &with_states(&entries, &[ListState::Active]));
    gic.raise_edge(46, 0);
    let (entries, _) = take(&mut gic, 0, 4);
    assert_eq!(entries[0].state, ListState::PendingActive);
    // Deactivated, then taken again.
    gic.return_entries(0, &with_states(&entries, &[ListState::Pending]));
    let (entries, _) = take(&mut gic, 0, 4);
    assert_eq!(entries[0].state, ListState::Pending);
}

#[test]
fn disabled_groups_and_distributor_block_delivery() {
    let mut gic = VirtualGic::new(1);
    enable_shared(&mut gic, 47);
    gic.raise_edge(47, 0);
    assert!(!gic.has_pending(0), "GICD_CTLR groups are off at reset");
    assert_eq!(take(&mut gic, 0, 4).0, []);
    // Enabling group 1 releases it and kicks its target.
    assert_eq!(write_distributor(&mut gic, GICD_CTLR, 0x12), Kick::vcpu(0));
    assert!(gic.has_pending(0));
    // A group 0 interrupt needs EnableGrp0.
    write_distributor(&mut gic, GICD_IGROUPR + 4, !(1 << 15));
    assert!(!gic.has_pending(0));
    assert_eq!(write_distributor(&mut gic, GICD_CTLR, 0x13), Kick::vcpu(0));
    let (entries, _) = take(&mut gic, 0, 4);
    assert_eq!(intids(&entries), [47]);
    assert!(!entries[0].group1);
    // Disabling the group while listed kicks the holder, and the returned
    // pending state stays in the model.
    assert_eq!(write_distributor(&mut gic, GICD_CTLR, 0x12), Kick::vcpu(0));
    gic.return_entries(0, &entries);
    assert_eq!(take(&mut gic, 0, 4).0, []);
    assert_eq!(read_distributor(&mut gic, GICD_ISPENDR + 4), 1 << 15);
}

#[test]
fn disabled_interrupts_stay_pending_until_enabled() {
    let mut gic = booted(2);
    route(&mut gic, 48, 1);
    assert_eq!(gic.raise_edge(48, 0), Kick::NONE);
    assert_eq!(read_distributor(&mut gic, GICD_ISPENDR + 4), 1 << 16);
    assert_eq!(take(&mut gic, 1, 4).0, []);
    assert!(!gic.has_pending(1));
    assert_eq!(enable_shared(&mut gic, 48), Kick::vcpu(1));
    assert_eq!(intids(&take(&mut gic, 1, 4).0), [48]);
}

#[test]
fn disabling_a_listed_interrupt_keeps_it_pending() {
    let mut gic = booted(1);
    enable_shared(&mut gic, 49);
    gic.raise_edge(49, 0);
    let (entries, _) = take(&mut gic, 0, 4);
    assert_eq!(write_distributor(&mut gic, GICD_ICENABLER + 4, 1 << 17), Kick::vcpu(0));
    gic.return_entries(0, &entries);
    assert_eq!(take(&mut gic, 0, 4).0, []);
    assert_eq!(read_distributor(&mut gic, GICD_ISPENDR + 4), 1 << 17);
    enable_shared(&mut gic, 49);
    assert_eq!(intids(&take(&mut gic, 0, 4).0), [49]);
}

#[test]
fn clearing_pending_while_listed_discards_the_list_register_state() {
    let mut gic = booted(2);
    enable_shared(&mut gic, 60);
    gic.raise_edge(60, 0);
    let (entries, _) = take(&mut gic, 0, 4);
    // vCPU 1 clears it while vCPU 0 runs with it pending.
    assert_eq!(read_distributor(&mut gic, GICD_ISPENDR + 4), 1 << 28);
    assert_eq!(write_distributor(&mut gic, GICD_ICPENDR + 4, 1 << 28), Kick::vcpu(0));
    assert_eq!(read_distributor(&mut gic, GICD_ISPENDR + 4), 0);
    gic.return_entries(0, &entries);
    assert_eq!(take(&mut gic, 0, 4).0, []);
    // Clearing active likewise.
    gic.raise_edge(60, 0);
    let (entries, _) = take(&mut gic, 0, 4);
    gic.return_entries(0, &with_states(&entries, &[ListState::Active]));
    let (entries, _) = take(&mut gic, 0, 4);
    assert_eq!(read_distributor(&mut gic, GICD_ISACTIVER + 4), 1 << 28);
    write_distributor(&mut gic, GICD_ICACTIVER + 4, 1 << 28);
    gic.return_entries(0, &entries);
    assert_eq!(read_distributor(&mut gic, GICD_ISACTIVER + 4), 0);
    assert_eq!(take(&mut gic, 0, 4).0, []);
}

#[test]
fn an_spi_rerouted_while_listed_moves_when_it_comes_back() {
    let mut gic = booted(2);
    enable_shared(&mut gic, 61);
    gic.raise_edge(61, 0);
    let (entries, _) = take(&mut gic, 0, 4);
    assert_eq!(route(&mut gic, 61, 1), Kick::vcpu(0));
    // vCPU 1 cannot take it while vCPU 0 holds it.
    assert_eq!(take(&mut gic, 1, 4).0, []);
    assert!(!gic.has_pending(1));
    assert_eq!(gic.return_entries(0, &entries), Kick::vcpu(1));
    assert_eq!(intids(&take(&mut gic, 1, 4).0), [61]);
}

#[test]
fn an_active_spi_stays_with_the_vcpu_that_acknowledged_it() {
    let mut gic = booted(2);
    enable_shared(&mut gic, 62);
    make_edge(&mut gic, 62);
    gic.raise_edge(62, 0);
    let (entries, _) = take(&mut gic, 0, 4);
    gic.return_entries(0, &with_states(&entries, &[ListState::Active]));
    route(&mut gic, 62, 1);
    gic.raise_edge(62, 0);
    assert_eq!(take(&mut gic, 1, 4).0, []);
    let (entries, _) = take(&mut gic, 0, 4);
    assert_eq!(entries[0].state, ListState::PendingActive);
    // Once deactivated without the pending part taken, it follows its route.
    let kick = gic.return_entries(0, &with_states(&entries, &[ListState::Pending]));
    assert_eq!(kick, Kick::vcpu(1));
    assert_eq!(take(&mut gic, 0, 4).0, []);
    assert_eq!(intids(&take(&mut gic, 1, 4).0), [62]);
}

#[test]
fn interrupts_are_never_listed_twice() {
    let mut gic = booted(2);
    enable_shared(&mut gic, 63);
    gic.raise_edge(63, 0);
    let (first, _) = take(&mut gic, 0, 4);
    assert_eq!(intids(&first), [63]);
    // Entries never returned come back unchanged at the next entry.
    let (again, _) = take(&mut gic, 0, 4);
    assert_eq!(again, first);
    // Rerouted while vCPU 0 holds it: vCPU 1 cannot take it yet.
    route(&mut gic, 63, 1);
    assert_eq!(take(&mut gic, 1, 4).0, []);
    // vCPU 0 re-enters without returning its entries: it is taken back and
    // now belongs to vCPU 1.
    assert_eq!(take(&mut gic, 0, 4).0, []);
    assert_eq!(take(&mut gic, 1, 4).0, first);
}

#[test]
fn stray_returned_entries_are_ignored() {
    let mut gic = booted(2);
    enable_shared(&mut gic, 64);
    gic.raise_edge(64, 0);
    let (entries, _) = take(&mut gic, 0, 4);
    // vCPU 1 returns an entry it never held, and INTIDs that do not exist.
    let stray = [
        ListEntry { intid: 64, ..entries[0] },
        ListEntry { intid: 1000, ..entries[0] },
        ListEntry::EMPTY,
    ];
    assert_eq!(gic.return_entries(1, &stray), Kick::NONE);
    assert_eq!(gic.return_entries(5, &stray), Kick::NONE);
    // A duplicate of a real entry counts once.
    let duplicated =
        with_states(&[entries[0], entries[0]], &[ListState::Active, ListState::Invalid]);
    gic.return_entries(0, &duplicated);
    assert_eq!(read_distributor(&mut gic, GICD_ISACTIVER + 8), 1);
}

#[test]
fn hardware_mapped_entries_carry_the_physical_intid() {
    let mut gic = booted(2);
    gic.set_hardware_mapping(27, 1, Some(27)).unwrap();
    write_redistributor(&mut gic, 1, GICR_ISENABLER0, 1 << 27);
    assert_eq!(gic.raise_edge(27, 1), Kick::vcpu(1));
    let (entries, _) = take(&mut gic, 1, 4);
    assert_eq!(entries[0].hardware, Some(27));
    assert_eq!(entries[0].state, ListState::Pending);
    assert!(!entries[0].end_of_interrupt_maintenance);
    // vCPU 0's timer is not mapped.
    write_redistributor(&mut gic, 0, GICR_ISENABLER0, 1 << 27);
    gic.raise_edge(27, 0);
    assert_eq!(take(&mut gic, 0, 4).0[0].hardware, None);
    // Active and pending again: a hardware entry is listed active only.
    gic.return_entries(1, &with_states(&entries, &[ListState::Active]));
    gic.raise_edge(27, 1);
    let (entries, _) = take(&mut gic, 1, 4);
    assert_eq!(entries[0].state, ListState::Active);
    assert_eq!(entries[0].hardware, Some(27));
    gic.return_entries(1, &with_states(&entries, &[ListState::Invalid]));
    let (entries, _) = take(&mut gic, 1, 4);
    assert_eq!(entries[0].state, ListState::Pending);
    // Unmapping.
    gic.return_entries(1, &entries);
    gic.set_hardware_mapping(27, 1, None).unwrap();
    assert_eq!(take(&mut gic, 1, 4).0[0].hardware, None);
}

#[test]
fn a_hardware_mapped_level_line_is_consumed_by_acknowledge() {
    let mut gic = booted(1);
    gic.set_hardware_mapping(40, 0, Some(40)).unwrap();
    enable_shared(&mut gic, 40);
    gic.set_level(40, 0, true);
    let (entries, _) = take(&mut gic, 0, 4);
    gic.return_entries(0, &with_states(&entries, &[ListState::Invalid]));
    assert!(!gic.has_pending(0), "the physical interrupt will fire again if needed");
}

#[test]
fn hardware_mappings_are_checked() {
    let mut gic = VirtualGic::new(2);
    assert_eq!(gic.set_hardware_mapping(3, 0, Some(27)), Err(InterruptError::NoSuchInterrupt));
    assert_eq!(gic.set_hardware_mapping(128, 0, Some(27)), Err(InterruptError::NoSuchInterrupt));
    assert_eq!(gic.set_hardware_mapping(27, 2, Some(27)), Err(InterruptError::BadVcpu));
    assert_eq!(gic.set_hardware_mapping(27, 0, Some(3)), Err(InterruptError::BadPhysicalInterrupt));
    assert_eq!(
        gic.set_hardware_mapping(27, 0, Some(1020)),
        Err(InterruptError::BadPhysicalInterrupt)
    );
    assert_eq!(gic.set_hardware_mapping(100, 7, Some(1019)), Ok(()));
}

#[test]
fn injection_with_bad_arguments_changes_nothing() {
    let mut gic = booted(2);
    assert_eq!(gic.set_level(5, 0, true), Kick::NONE, "SGIs have no line");
    assert_eq!(gic.set_level(27, 2, true), Kick::NONE);
    assert_eq!(gic.set_level(128, 0, true), Kick::NONE);
    assert_eq!(gic.raise_edge(1020, 0), Kick::NONE);
    assert_eq!(gic.raise_edge(20, 9), Kick::NONE);
    assert_eq!(gic.take_candidates(2, &mut [ListEntry::EMPTY; 4]), Candidates::default());
    assert!(!gic.has_pending(2));
    for vcpu in 0..2 {
        assert_eq!(read_redistributor(&mut gic, vcpu, GICR_ISPENDR0), 0);
    }
}

#[test]
fn list_register_encoding_matches_the_architecture() {
    let timer = ListEntry {
        intid: 27,
        priority: 0xa0,
        group1: true,
        state: ListState::Pending,
        hardware: Some(27),
        end_of_interrupt_maintenance: false,
    };
    assert_eq!(encode(&timer), 0x70a0_001b_0000_001b);
    let level = ListEntry {
        intid: 40,
        priority: 0x80,
        group1: true,
        state: ListState::Active,
        hardware: None,
        end_of_interrupt_maintenance: true,
    };
    assert_eq!(encode(&level), 0x9080_0200_0000_0028);
    let both = ListEntry {
        intid: 1019,
        priority: 0xf8,
        group1: false,
        state: ListState::PendingActive,
        hardware: None,
        end_of_interrupt_maintenance: false,
    };
    assert_eq!(encode(&both), 0xc0f8_0000_0000_03fb);
    assert_eq!(encode(&ListEntry::EMPTY), 0);
    assert_eq!(decode(0), ListEntry::EMPTY);
    // The EOI bit belongs to pINTID when HW is set.
    let physical =
        ListEntry { hardware: Some(0x1fff), end_of_interrupt_maintenance: false, ..level };
    assert_eq!(encode(&physical), 0xb080_1fff_0000_0028);
    for entry in [timer, level, both, physical, ListEntry::EMPTY] {
        assert_eq!(decode(encode(&entry)), entry);
    }
    // Every state.
    for (bits, state) in [
        (0, ListState::Invalid),
        (1, ListState::Pending),
        (2, ListState::Active),
        (3, ListState::PendingActive),
    ] {
        assert_eq!(decode(bits << 62).state, state);
    }
}

#[test]
fn list_register_round_trip_of_random_entries() {
    let mut random = Lcg(7);
    for _ in 0..10_000 {
        let hardware = random.below(2) == 0;
        let entry = ListEntry {
            intid: random.next() as u32,
            priority: random.next() as u8,
            group1: random.below(2) == 0,
            state: ListState::from_bits(random.below(2) == 0, random.below(2) == 0),
            hardware: hardware.then(|| random.below(0x2000) as u32),
            end_of_interrupt_maintenance: !hardware && random.below(2) == 0,
        };
        assert_eq!(decode(encode(&entry)), entry);
    }
}

#[test]
fn bad_accesses_are_refused_with_a_reason() {
    let mut gic = VirtualGic::new(2);
    assert_eq!(gic.distributor_read(0, 3), Err(AccessError::BadSize));
    assert_eq!(gic.distributor_read(0, 16), Err(AccessError::BadSize));
    assert_eq!(gic.distributor_read(0x102, 4), Err(AccessError::Misaligned));
    assert_eq!(gic.distributor_read(GICD_CTLR, 8), Err(AccessError::BadSize));
    assert_eq!(gic.distributor_read(GICD_CTLR, 2), Err(AccessError::BadSize));
    assert_eq!(gic.distributor_read(GICD_CTLR, 1), Err(AccessError::BadSize));
    assert_eq!(gic.distributor_read(0x101, 1), Err(AccessError::BadSize));
    assert_eq!(gic.distributor_write(GICD_ISENABLER, 8, 0), Err(AccessError::BadSize));
    assert_eq!(gic.distributor_read(0x0040, 4), Err(AccessError::UnknownRegister));
    assert_eq!(gic.distributor_write(0x0040, 4, 0), Err(AccessError::UnknownRegister));
    assert_eq!(gic.distributor_read(0x1000, 4), Err(AccessError::UnknownRegister));
    assert_eq!(gic.distributor_read(0x1_0000, 4), Err(AccessError::UnknownRegister));
    assert_eq!(gic.distributor_read(PIDR2, 1), Err(AccessError::BadSize));
    assert_eq!(gic.distributor_read(GICD_IROUTER + 8 * 40, 1), Err(AccessError::BadSize));
    let beyond = 2 * REDISTRIBUTOR_STRIDE;
    assert_eq!(gic.redistributor_read(beyond, 4), Err(AccessError::BadVcpu));
    assert_eq!(gic.redistributor_write(beyond, 4, 0), Err(AccessError::BadVcpu));
    // LPI registers (GICR_PROPBASER) and the extended PPI range are reserved.
    assert_eq!(gic.redistributor_read(0x70, 8), Err(AccessError::UnknownRegister));
    assert_eq!(gic.redistributor_read(SGI + 0x84, 4), Err(AccessError::UnknownRegister));
    assert_eq!(gic.redistributor_read(SGI + 0xffe8, 4), Err(AccessError::UnknownRegister));
    assert_eq!(gic.redistributor_read(GICR_TYPER + 4, 8), Err(AccessError::Misaligned));
    assert_eq!(gic.redistributor_read(GICR_CTLR, 8), Err(AccessError::BadSize));
    assert_eq!(gic.redistributor_read(GICR_WAKER, 8), Err(AccessError::Misaligned));
    assert_eq!(gic.redistributor_read(GICR_ISENABLER0 + 1, 1), Err(AccessError::BadSize));
}

#[test]
fn the_gic_can_be_built_in_a_constant() {
    const GIC: VirtualGic = VirtualGic::new(MAX_VCPUS);
    assert_eq!(GIC.vcpu_count(), MAX_VCPUS);
}

#[test]
#[should_panic(expected = "1 to MAX_VCPUS")]
fn a_gic_needs_a_vcpu() {
    let _ = VirtualGic::new(0);
}

#[test]
fn kicks_combine_and_list_their_vcpus() {
    let kick = Kick::vcpu(1) | Kick::vcpu(6);
    assert_eq!(kick, Kick(0b0100_0010));
    assert!(kick.contains(6) && !kick.contains(0) && !kick.contains(9));
    assert_eq!(kick.vcpus().collect::<Vec<_>>(), [1, 6]);
    assert!(Kick::vcpu(MAX_VCPUS).is_empty());
    let mut combined = Kick::NONE;
    combined |= Kick::vcpu(0);
    assert_eq!(combined, Kick(1));
}

/// A 64-bit linear congruential generator (Knuth's MMIX constants).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 =
            self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 16
    }

    fn below(&mut self, limit: usize) -> usize {
        (self.next() % limit as u64) as usize
    }
}

/// An interrupt source: one SPI, or one SGI or PPI of one vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Source {
    Private(usize, u32),
    Shared(u32),
}

impl Source {
    fn of(intid: u32, vcpu: usize) -> Self {
        if intid < 32 {
            Self::Private(vcpu, intid)
        } else {
            Self::Shared(intid)
        }
    }
}

/// What the oracle knows of a source.
#[derive(Clone, Copy, Debug, Default)]
struct History {
    raised: u64,
    delivered: u64,
    /// Raised and not yet acknowledged by the guest.
    outstanding: bool,
    last_raise: u64,
    last_delivery: u64,
}

/// SPIs, PPIs and SGIs the random runs use.
const SHARED: std::ops::Range<u32> = 32..42;
const PRIVATE_PERIPHERALS: std::ops::Range<u32> = 16..20;
const SOFTWARE_GENERATED: std::ops::Range<u32> = 0..4;

/// A VM whose guest acknowledges and completes interrupts at random moments.
struct Simulation {
    gic: VirtualGic,
    random: Lcg,
    vcpus: usize,
    /// The list registers of each running vCPU.
    running: Vec<Option<Vec<ListEntry>>>,
    history: HashMap<Source, History>,
    /// The vCPU on which the guest acknowledged each active source.
    active_on: HashMap<Source, usize>,
    /// Raise only sources that are not outstanding, so that every raise
    /// must be delivered exactly once.
    strict: bool,
    step: u64,
}

impl Simulation {
    fn new(seed: u64, vcpus: usize, strict: bool) -> Self {
        let mut gic = booted(vcpus);
        for intid in SHARED {
            make_edge(&mut gic, intid);
            enable_shared(&mut gic, intid);
            route(&mut gic, intid, (intid as u64) % vcpus as u64);
        }
        for vcpu in 0..vcpus {
            let ppi_edges =
                PRIVATE_PERIPHERALS.fold(0, |value, intid| value | 2 << (2 * (intid - 16)));
            write_redistributor(&mut gic, vcpu, GICR_ICFGR1, ppi_edges);
            let enables = PRIVATE_PERIPHERALS
                .chain(SOFTWARE_GENERATED)
                .fold(0, |value, intid| value | 1 << intid);
            write_redistributor(&mut gic, vcpu, GICR_ISENABLER0, enables);
        }
        Self {
            gic,
            random: Lcg(seed),
            vcpus,
            running: vec![None; vcpus],
            history: HashMap::new(),
            active_on: HashMap::new(),
            strict,
            step: 0,
        }
    }

    fn history(&mut self, source: Source) -> &mut History {
        self.history.entry(source).or_default()
    }

    /// Records a raise; in strict mode refuses sources still outstanding.
    fn may_raise(&mut self, source: Source) -> bool {
        let strict = self.strict;
        let step = self.step;
        let history = self.history(source);
        if strict && history.outstanding {
            return false;
        }
        history.raised += 1;
        history.outstanding = true;
        history.last_raise = step;
        true
    }

    fn deliver(&mut self, source: Source) {
        let strict = self.strict;
        let step = self.step;
        let history = self.history(source);
        assert!(
            history.outstanding || !strict,
            "step {step}: {source:?} delivered without a raise"
        );
        history.outstanding = false;
        history.delivered += 1;
        history.last_delivery = step;
        assert!(history.delivered <= history.raised, "{source:?} delivered too often");
    }

    fn enter(&mut self, vcpu: usize, slots: usize) {
        let had_pending = self.gic.has_pending(vcpu);
        let (entries, more_waiting) = take(&mut self.gic, vcpu, slots);
        if !more_waiting {
            let has_pending_entry = entries.iter().any(|entry| entry.state == ListState::Pending);
            assert_eq!(had_pending, has_pending_entry, "step {}: has_pending", self.step);
        }
        for (index, entry) in entries.iter().enumerate() {
            assert!(
                entries[..index].iter().all(|other| other.intid != entry.intid),
                "listed twice on one vCPU"
            );
            if entry.state.active() {
                assert_eq!(
                    self.active_on.get(&Source::of(entry.intid, vcpu)),
                    Some(&vcpu),
                    "step {}: INTID {} listed active away from where it is active",
                    self.step,
                    entry.intid
                );
            }
            if entry.intid >= 32 {
                for (other, registers) in self.running.iter().enumerate() {
                    if let Some(registers) = registers {
                        assert!(
                            registers.iter().all(|other| other.intid != entry.intid),
                            "step {}: SPI {} listed on vCPUs {vcpu} and {other}",
                            self.step,
                            entry.intid
                        );
                    }
                }
            }
        }
        let active_here = self.active_on.values().filter(|&&on| on == vcpu).count();
        let listed_active = entries.iter().filter(|entry| entry.state.active()).count();
        assert_eq!(
            listed_active,
            active_here.min(slots),
            "step {}: active interrupts missing on vCPU {vcpu}",
            self.step
        );
        self.running[vcpu] = Some(entries);
    }

    fn exit(&mut self, vcpu: usize) -> Kick {
        match self.running[vcpu].take() {
            Some(entries) => self.gic.return_entries(vcpu, &entries),
            None => Kick::NONE,
        }
    }

    /// The guest acts on one list register: acknowledge (perhaps with end of
    /// interrupt at once), deactivate, or nothing.
    fn guest_acts(&mut self, vcpu: usize, index: usize, complete: bool) {
        let Some(entries) = &mut self.running[vcpu] else {
            return;
        };
        let Some(entry) = entries.get_mut(index) else {
            return;
        };
        let source = Source::of(entry.intid, vcpu);
        match entry.state {
            ListState::Pending => {
                entry.state = if complete { ListState::Invalid } else { ListState::Active };
                if !complete {
                    self.active_on.insert(source, vcpu);
                }
                self.deliver(source);
            }
            ListState::Active => {
                entry.state = ListState::Invalid;
                self.active_on.remove(&source);
            }
            ListState::PendingActive => {
                entry.state = ListState::Pending;
                self.active_on.remove(&source);
            }
            ListState::Invalid => {}
        }
    }

    fn random_action(&mut self) {
        self.step += 1;
        let vcpu = self.random.below(self.vcpus);
        match self.random.below(16) {
            0..=2 => {
                let intid = SHARED.start + self.random.below(SHARED.len()) as u32;
                if self.may_raise(Source::Shared(intid)) {
                    self.gic.raise_edge(intid, vcpu);
                }
            }
            3 => {
                let intid = PRIVATE_PERIPHERALS.start + self.random.below(4) as u32;
                if self.may_raise(Source::Private(vcpu, intid)) {
                    self.gic.raise_edge(intid, vcpu);
                }
            }
            4 => {
                let intid = self.random.below(SOFTWARE_GENERATED.len()) as u32;
                let all_but_self = self.random.below(4) == 0;
                let wanted: Vec<usize> =
                    (0..self.vcpus)
                        .filter(|&target| {
                            if all_but_self {
                                target != vcpu
                            } else {
                                self.random.below(2) == 0
                            }
                        })
                        .collect();
                let free = wanted.iter().all(|&target| {
                    !self.strict
                        || !self
                            .history
                            .get(&Source::Private(target, intid))
                            .is_some_and(|history| history.outstanding)
                });
                if free && !wanted.is_empty() {
                    let mut value = u64::from(intid) << 24;
                    if all_but_self {
                        value |= 1 << 40;
                    } else {
                        value |= wanted.iter().fold(0, |list, &target| list | 1 << target);
                    }
                    for &target in &wanted {
                        self.may_raise(Source::Private(target, intid));
                    }
                    self.gic.send_sgi(vcpu, value);
                }
            }
            5 | 6 => {
                if self.running[vcpu].is_none() {
                    let slots = 1 + self.random.below(4);
                    self.enter(vcpu, slots);
                }
            }
            7..=9 => {
                let index = self.random.below(4);
                let complete = self.random.below(2) == 0;
                self.guest_acts(vcpu, index, complete);
            }
            10 => {
                self.exit(vcpu);
            }
            11 => {
                let intid = SHARED.start + self.random.below(SHARED.len()) as u32;
                let (word, bit) = word_and_bit(intid);
                let register =
                    if self.random.below(2) == 0 { GICD_ISENABLER } else { GICD_ICENABLER };
                write_distributor(&mut self.gic, register + word, bit);
            }
            12 => {
                let intid = SHARED.start + self.random.below(SHARED.len()) as u32;
                set_shared_priority(&mut self.gic, intid, self.random.next() as u8);
            }
            _ => {
                let intid = SHARED.start + self.random.below(SHARED.len()) as u32;
                // Now and then an affinity that names no vCPU.
                let target = self.random.below(self.vcpus + 1) as u64;
                let target = if target == self.vcpus as u64 { 6 } else { target };
                route(&mut self.gic, intid, target);
            }
        }
    }

    /// Lets every vCPU take and finish everything, with every interrupt
    /// enabled and routed to a vCPU.
    fn drain(&mut self) {
        for vcpu in 0..self.vcpus {
            self.exit(vcpu);
        }
        for intid in SHARED {
            enable_shared(&mut self.gic, intid);
            route(&mut self.gic, intid, u64::from(intid) % self.vcpus as u64);
        }
        for _round in 0..100 {
            self.step += 1;
            let mut taken = false;
            for vcpu in 0..self.vcpus {
                self.enter(vcpu, 4);
                let count = self.running[vcpu].as_ref().map_or(0, Vec::len);
                taken |= count > 0;
                for index in 0..count {
                    // Deactivate, acknowledge, finish.
                    self.guest_acts(vcpu, index, false);
                    self.guest_acts(vcpu, index, true);
                    self.guest_acts(vcpu, index, true);
                }
                self.exit(vcpu);
            }
            if !taken {
                break;
            }
        }
        for vcpu in 0..self.vcpus {
            assert!(!self.gic.has_pending(vcpu));
            assert_eq!(take(&mut self.gic, vcpu, 4).0, []);
        }
    }
}

#[test]
fn random_runs_deliver_every_edge_exactly_once() {
    for seed in 1..=20 {
        let mut simulation = Simulation::new(seed, 4, true);
        for _ in 0..10_000 {
            simulation.random_action();
        }
        simulation.drain();
        let mut raised = 0;
        for (source, history) in &simulation.history {
            assert!(!history.outstanding, "seed {seed}: {source:?} lost");
            assert_eq!(history.raised, history.delivered, "seed {seed}: {source:?}");
            raised += history.raised;
        }
        assert!(raised > 300, "seed {seed}: only {raised} raises");
    }
}

#[test]
fn random_runs_with_merging_edges_lose_nothing() {
    for seed in 100..120 {
        let mut simulation = Simulation::new(seed, 3, false);
        for _ in 0..5_000 {
            simulation.random_action();
        }
        simulation.drain();
        for (source, history) in &simulation.history {
            assert!(history.delivered >= 1, "seed {seed}: {source:?} never delivered");
            assert!(history.delivered <= history.raised);
            assert!(
                history.last_delivery > history.last_raise,
                "seed {seed}: the last raise of {source:?} was lost"
            );
        }
    }
}

#[test]
fn random_level_lines_settle_when_lowered() {
    let mut random = Lcg(99);
    let mut gic = booted(2);
    let lines: Vec<u32> = (64..72).collect();
    for &intid in &lines {
        enable_shared(&mut gic, intid);
        route(&mut gic, intid, u64::from(intid) % 2);
    }
    let mut running: Vec<Option<Vec<ListEntry>>> = vec![None, None];
    for _ in 0..20_000 {
        let vcpu = random.below(2);
        match random.below(5) {
            0 => {
                let intid = lines[random.below(lines.len())];
                gic.set_level(intid, 0, random.below(2) == 0);
            }
            1 if running[vcpu].is_none() => {
                let slots = 1 + random.below(3);
                running[vcpu] = Some(take(&mut gic, vcpu, slots).0);
            }
            2 => {
                if let Some(entries) = &mut running[vcpu] {
                    for entry in entries.iter_mut() {
                        entry.state = match (entry.state, random.below(2)) {
                            (ListState::Pending, 0) => ListState::Active,
                            (ListState::Active, 0) => ListState::Invalid,
                            (state, _) => state,
                        };
                    }
                }
            }
            3 => {
                if let Some(entries) = running[vcpu].take() {
                    gic.return_entries(vcpu, &entries);
                }
            }
            _ => {
                let intid = lines[random.below(lines.len())];
                route(&mut gic, intid, random.below(2) as u64);
            }
        }
        for (index, entries) in running.iter().enumerate() {
            let Some(entries) = entries else { continue };
            let other = running[1 - index].as_deref().unwrap_or(&[]);
            for entry in entries {
                assert!(other.iter().all(|held| held.intid != entry.intid));
            }
        }
    }
    for (vcpu, entries) in running.iter_mut().enumerate() {
        if let Some(entries) = entries.take() {
            gic.return_entries(vcpu, &entries);
        }
    }
    // Every line high: each is delivered to its target.
    for &intid in &lines {
        gic.set_level(intid, 0, true);
        route(&mut gic, intid, 1);
    }
    let mut seen = Vec::new();
    for _ in 0..10 {
        let (entries, _) = take(&mut gic, 1, 4);
        for entry in entries.iter().filter(|entry| entry.state.pending()) {
            // The handler quietens the device, then finishes.
            seen.push(entry.intid);
            gic.set_level(entry.intid, 0, false);
        }
        let finished = with_states(&entries, &vec![ListState::Invalid; entries.len()]);
        gic.return_entries(1, &finished);
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen, lines);
    // Every line low: nothing left anywhere.
    for vcpu in 0..2 {
        assert!(!gic.has_pending(vcpu));
        assert_eq!(take(&mut gic, vcpu, 4).0, []);
    }
}
