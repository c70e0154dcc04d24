//! Each detector's line in every figure ([`detector_style`]), chosen from
//! its id: what [`crate::figures::plot::ladder_roc`] draws the ladder with.

use plotters::style::colors::BLACK;
use sha2::{Digest, Sha256};

use crate::figures::{Dash, LineStyle, PALETTE};
use crate::scoring::{
    Architecture, Backbone, ClassifierScore, DetectorId, PatchScore, TrivialKind,
};

/// A detector's line in every figure, chosen from what it is, never from
/// its place in a list: its family's colour (the autoencoders blue, the
/// classifier orange, the pretrained kNN green, the pretrained Gaussian
/// purple, PatchCore red and its mean pink, the transformation classifier
/// brown, the trivial scores olive, a fusion black) and a dash for the
/// member of the family (the architecture, the backbone, the score). A
/// family that names its own detectors ([`DetectorId::Family`]) takes a
/// colour none of those has, and a dash, from its name and its detail.
pub fn detector_style(id: &DetectorId) -> LineStyle {
    use Dash::{Dashed, Dotted, LongDashed, Solid};
    let [
        blue,
        orange,
        green,
        red,
        purple,
        brown,
        pink,
        grey,
        olive,
        cyan,
    ] = PALETTE;
    let backbone = |b: &Backbone| match b {
        Backbone::Lite0 => Solid,
        Backbone::Lite1 => Dashed,
        Backbone::Lite2 => Dotted,
    };
    let (color, dash) = match id {
        DetectorId::Trivial(TrivialKind::PcaReconstruction) => (olive, Solid),
        DetectorId::Trivial(TrivialKind::DeflateBytes) => (olive, Dashed),
        DetectorId::Autoencoder(a) => (
            blue,
            match a {
                Architecture::Baseline => Solid,
                Architecture::Improved1 => Dashed,
                Architecture::Improved2 => Dotted,
                Architecture::Improved3 => LongDashed,
            },
        ),
        DetectorId::Classifier(ClassifierScore::Energy) => (orange, Solid),
        DetectorId::Classifier(ClassifierScore::Mahalanobis) => (orange, Dashed),
        DetectorId::Geometric { shift: 0 } => (brown, Solid),
        DetectorId::Geometric { .. } => (brown, Dashed),
        DetectorId::Knn { backbone: b, .. } => (green, backbone(b)),
        DetectorId::Mahalanobis(b) => (purple, backbone(b)),
        DetectorId::PatchCore {
            backbone: b,
            score: PatchScore::Max,
            ..
        } => (red, backbone(b)),
        DetectorId::PatchCore { backbone: b, .. } => (pink, backbone(b)),
        DetectorId::Fusion(..) => (BLACK, Solid),
        DetectorId::Family { family, detail } => {
            let spare = [cyan, grey];
            (spare[pick(family, spare.len())], Dash::ALL[pick(detail, 4)])
        }
    };
    LineStyle { color, dash }
}

/// One of `n` choices for `name`, the same on every run and machine (a
/// digest, not the standard library's seeded hash).
fn pick(name: &str, n: usize) -> usize {
    Sha256::digest(name.as_bytes())[0] as usize % n
}

/// [`detector_style`] of each detector, two alike (two kNN of one
/// backbone, say) moved apart by [`LineStyle::distinct`]: what
/// [`crate::figures::plot::ladder_roc`] draws.
pub fn detector_styles(ids: &[DetectorId]) -> Vec<LineStyle> {
    let styles: Vec<LineStyle> = ids.iter().map(detector_style).collect();
    LineStyle::distinct(&styles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_naming_its_own_detectors_is_drawn_apart_from_the_listed_ones() {
        let listed = [
            DetectorId::Autoencoder(Architecture::Improved3),
            DetectorId::Classifier(ClassifierScore::Energy),
            DetectorId::Knn {
                backbone: Backbone::Lite0,
                k: 5,
            },
        ];
        let family = DetectorId::of_family("colour histogram", "kNN (k = 5)");
        let style = detector_style(&family);
        assert!([PALETTE[7], PALETTE[9]].contains(&style.color), "{style:?}");
        assert!(
            listed
                .iter()
                .all(|id| detector_style(id).color != style.color)
        );
        assert_eq!(detector_style(&family.clone()), style, "from the id alone");
    }
}
