using System.Globalization;

namespace Probe.Data;

/// <summary>
/// What is done to every sample before the model sees it, in torchvision's order: gray (Grayscale), resize of the
/// shorter side (Resize(size)), centre crop (CenterCrop(crop)), scale (ToTensor's /255 for 8-bit sources), then
/// per-channel normalisation (Normalize(mean, std): (x - mean[c]) / std[c] in float32).
/// </summary>
/// <remarks>
/// Unset values take the presets' values: <c>preset=imagenet</c> is resize 256, centre crop 224 and ImageNet's mean
/// and std (what torchvision's pretrained weights expect); <c>norm=imagenet</c> is ImageNet's mean and std only.
/// Values given explicitly override a preset's. Scale defaults to 1/255 for 8-bit sources (images, CIFAR, IDX,
/// uint8 arrays) and to 1 otherwise. Gray, resize and crop need image-shaped samples ([C, H, W], or [H, W] as one
/// channel); mean and std hold one value or one per channel (per feature for plain vectors).
/// </remarks>
public sealed record DataTransform
{
    /// <summary>ImageNet's per-channel mean (after scaling bytes to [0, 1]).</summary>
    public static readonly IReadOnlyList<double> ImageNetMean = [0.485, 0.456, 0.406];
    /// <summary>ImageNet's per-channel standard deviation.</summary>
    public static readonly IReadOnlyList<double> ImageNetStd = [0.229, 0.224, 0.225];

    /// <summary>No transform (sources' default scale only).</summary>
    public static readonly DataTransform None = new();

    /// <summary>The multiplier as a fraction: values are multiplied by <see cref="ScaleNumerator"/> and divided by <see cref="ScaleDenominator"/>; null = the source's default.</summary>
    public double? ScaleNumerator { get; init; }
    /// <summary>See <see cref="ScaleNumerator"/>.</summary>
    public double ScaleDenominator { get; init; } = 1;
    public IReadOnlyList<double>? Mean { get; init; }
    public IReadOnlyList<double>? Std { get; init; }
    public int? Size { get; init; }
    public int? Crop { get; init; }
    public bool Gray { get; init; }
    /// <summary>"imagenet" or null.</summary>
    public string? Preset { get; init; }
    /// <summary>"imagenet" or null.</summary>
    public string? Norm { get; init; }

    /// <summary>True when nothing but the source's default scale applies.</summary>
    public bool IsNone => ScaleNumerator == null && Mean == null && Std == null && Size == null && Crop == null && !Gray && Preset == null && Norm == null;

    /// <summary>The resize applied (explicit or from the preset).</summary>
    public int? EffectiveSize => Size ?? (Preset == "imagenet" ? 256 : null);
    /// <summary>The crop applied (explicit or from the preset).</summary>
    public int? EffectiveCrop => Crop ?? (Preset == "imagenet" ? 224 : null);
    /// <summary>The mean subtracted (explicit or from a preset), or null.</summary>
    public IReadOnlyList<double>? EffectiveMean => Mean ?? (Preset == "imagenet" || Norm == "imagenet" ? ImageNetMean : null);
    /// <summary>The standard deviation divided by (explicit or from a preset), or null.</summary>
    public IReadOnlyList<double>? EffectiveStd => Std ?? (Preset == "imagenet" || Norm == "imagenet" ? ImageNetStd : null);

    /// <summary>The transform option names every data source takes, in canonical order.</summary>
    public static readonly IReadOnlyList<string> OptionNames = ["gray", "size", "crop", "scale", "preset", "norm", "mean", "std"];

    /// <summary>
    /// Parses one option's value; returns the transform with it set and the canonical text of the value. Invalid values
    /// throw <see cref="ProbeException"/> saying what is expected.
    /// </summary>
    public (DataTransform Transform, string Canonical) With(string name, string value)
    {
        var inv = CultureInfo.InvariantCulture;
        switch (name)
        {
            case "gray":
                return value.ToLowerInvariant() switch
                {
                    "" or "yes" or "true" or "1" => (this with { Gray = true }, ""),
                    "no" or "false" or "0" => (this with { Gray = false }, "no"),
                    _ => throw new ProbeException($"Option gray takes no value (or yes/no), got '{value}'."),
                };
            case "size" or "crop":
                if (!int.TryParse(value, NumberStyles.Integer, inv, out int n) || n < 1 || n > 65536)
                    throw new ProbeException($"Option {name} must be a whole number of pixels from 1 to 65536, got '{value}'.");
                return (name == "size" ? this with { Size = n } : this with { Crop = n }, n.ToString(inv));
            case "scale":
                {
                    var parts = value.Split('/');
                    if (parts.Length > 2 || !TryNumber(parts[0], out double num) || (parts.Length == 2 && (!TryNumber(parts[1], out double den0) || den0 == 0)))
                        throw new ProbeException($"Option scale must be a finite number or a fraction such as 1/255, got '{value}'.");
                    double den = parts.Length == 2 ? double.Parse(parts[1], NumberStyles.Float, inv) : 1;
                    if (num == 0) throw new ProbeException("Option scale cannot be 0 (every sample would be zero).");
                    string text = parts.Length == 2 ? $"{num.ToString("R", inv)}/{den.ToString("R", inv)}" : num.ToString("R", inv);
                    return (this with { ScaleNumerator = num, ScaleDenominator = den }, text);
                }
            case "preset" or "norm":
                {
                    var v = value.ToLowerInvariant();
                    if (v is not ("imagenet" or "none"))
                        throw new ProbeException($"Option {name} must be imagenet (or none), got '{value}'.");
                    string? p = v == "none" ? null : v;
                    return (name == "preset" ? this with { Preset = p } : this with { Norm = p }, v);
                }
            case "mean" or "std":
                {
                    var parts = value.Split(',');
                    var xs = new double[parts.Length];
                    for (int i = 0; i < parts.Length; i++)
                    {
                        if (!TryNumber(parts[i], out xs[i]))
                            throw new ProbeException($"Option {name} must be one number or one per channel separated by commas (as in {name}=0.485,0.456,0.406), got '{value}'.");
                        if (name == "std" && !(xs[i] > 0))
                            throw new ProbeException($"Option std must hold numbers greater than 0, got '{value}'.");
                    }
                    string text = string.Join(",", xs.Select(x => x.ToString("R", inv)));
                    return (name == "mean" ? this with { Mean = xs } : this with { Std = xs }, text);
                }
            default:
                throw new ArgumentException($"Not a transform option: {name}");
        }
    }

    static bool TryNumber(string s, out double x) =>
        double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out x) && double.IsFinite(x);

    /// <summary>Builds a transform from option texts (name, value), as in a data source spec.</summary>
    public static DataTransform Parse(IEnumerable<KeyValuePair<string, string>> options)
    {
        var t = None;
        foreach (var (k, v) in options) t = t.With(k, v).Transform;
        return t;
    }
}
