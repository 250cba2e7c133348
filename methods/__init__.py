"""Methods, installed as `bench.methods`. Add one: a file here plus one line below."""

from bench.registry import Registry

METHODS = Registry(
    "method",
    {
        "erm": "bench.methods.erm:ERM",
        "balanced-softmax": "bench.methods.balanced_softmax:BalancedSoftmax",
        "ddpm-fill": "bench.methods.ddpm_fill:DDPMFill",
        "fg-loss": "bench.methods.fg:FGLoss",
        "fg-entropy": "bench.methods.fg:FGEntropy",
        "fg-hardness": "bench.methods.fg:FGHardness",
        "fg-combined": "bench.methods.fg:FGCombined",
        "augcond-random-image": "bench.methods.augcond:AugCondRandomImage",
        "augcond-dropout": "bench.methods.augcond:AugCondDropout",
        "augcond-mixup": "bench.methods.augcond:AugCondMixup",
        "augcond-mixup-dropout": "bench.methods.augcond:AugCondMixupDropout",
        "augcond-embed-mixup": "bench.methods.augcond:AugCondEmbedMixup",
        "augcond-embed-mixup-dropout": "bench.methods.augcond:AugCondEmbedMixupDropout",
        "augcond-cutmix": "bench.methods.augcond:AugCondCutmix",
        "augcond-cutmix-dropout": "bench.methods.augcond:AugCondCutmixDropout",
        "augcond-embed-cutmix": "bench.methods.augcond:AugCondEmbedCutmix",
        "augcond-embed-cutmix-dropout": "bench.methods.augcond:AugCondEmbedCutmixDropout",
        "ldm-txt": "bench.methods.ldm_txt:LDMTxt",
        "ldm-txt-img": "bench.methods.ldm_txt:LDMTxtImg",
    },
)
