using System.Reflection;
using SkiaSharp;

namespace Probe.Reporting;

/// <summary>
/// Typefaces used for figure text. DejaVu Sans (regular and bold) ships inside this assembly so that text renders
/// the same on machines without fontconfig or system fonts (SkiaSharp's NoDependencies build on Linux).
/// </summary>
internal static class EmbeddedFonts
{
    private const string RegularResource = "Probe.Reporting.Fonts.DejaVuSans.ttf", BoldResource = "Probe.Reporting.Fonts.DejaVuSans-Bold.ttf";
    private static readonly Lazy<SKTypeface> Regular = new(() => Load(RegularResource));
    private static readonly Lazy<SKTypeface> Bold = new(() => Load(BoldResource));
    private static readonly Lazy<byte[]> RegularBytes = new(() => Bytes(RegularResource));
    private static readonly Lazy<byte[]> BoldBytes = new(() => Bytes(BoldResource));

    /// <summary>The font file behind <paramref name="typeface"/> when it is one of the embedded typefaces, else null.</summary>
    public static byte[]? FileOf(SKTypeface typeface) =>
        ReferenceEquals(typeface, Regular.Value) ? RegularBytes.Value : ReferenceEquals(typeface, Bold.Value) ? BoldBytes.Value : null;
    private static readonly Dictionary<(string, bool), SKTypeface> SystemCache = new();
    private static readonly object Gate = new();

    /// <summary>Returns the typeface for a family and weight; unknown or uninstalled families use embedded DejaVu Sans.</summary>
    public static SKTypeface Get(string? family, double weight)
    {
        bool bold = weight >= 600;
        if (string.IsNullOrWhiteSpace(family) || family.Equals(FigureStyle.EmbeddedFontFamily, StringComparison.OrdinalIgnoreCase))
            return bold ? Bold.Value : Regular.Value;

        lock (Gate)
        {
            if (SystemCache.TryGetValue((family, bold), out var cached)) return cached;
            var style = bold ? SKFontStyle.Bold : SKFontStyle.Normal;
            var tf = SKTypeface.FromFamilyName(family, style);
            var chosen = tf != null && string.Equals(tf.FamilyName, family, StringComparison.OrdinalIgnoreCase)
                ? tf
                : (bold ? Bold.Value : Regular.Value);
            SystemCache[(family, bold)] = chosen;
            return chosen;
        }
    }

    private static byte[] Bytes(string resource)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"Embedded font resource '{resource}' is missing from Probe.Reporting.");
        using var ms = new MemoryStream();
        stream.CopyTo(ms);
        return ms.ToArray();
    }

    private static SKTypeface Load(string resource)
    {
        var data = SKData.CreateCopy(Bytes(resource));
        return SKTypeface.FromData(data)
            ?? throw new InvalidOperationException($"Embedded font resource '{resource}' could not be loaded by SkiaSharp.");
    }
}
