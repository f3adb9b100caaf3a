using OxyPlot;

namespace Probe.Reporting;

/// <summary>Fixed colour palettes: a colour-blind-safe categorical palette, viridis for continuous values and a diverging palette for signed ones.</summary>
public static class Palettes
{
    /// <summary>
    /// Ten categorical colours that stay apart for colour-blind readers and stay visible on white: the Okabe-Ito colours
    /// (Okabe &amp; Ito 2008) reordered so the strongest come first — blue, orange, bluish green, vermillion, reddish purple,
    /// sky blue, black — then Paul Tol's wine, a mid grey, and Okabe-Ito's yellow darkened to an olive gold (pure yellow has a
    /// contrast of 1.3:1 on white and vanished in scatter plots). Every colour has at least 2.2:1 contrast on white.
    /// </summary>
    public static IReadOnlyList<OxyColor> Categorical { get; } =
    [
        OxyColor.FromRgb(0x00, 0x72, 0xB2),
        OxyColor.FromRgb(0xE6, 0x9F, 0x00),
        OxyColor.FromRgb(0x00, 0x9E, 0x73),
        OxyColor.FromRgb(0xD5, 0x5E, 0x00),
        OxyColor.FromRgb(0xCC, 0x79, 0xA7),
        OxyColor.FromRgb(0x56, 0xB4, 0xE9),
        OxyColor.FromRgb(0x00, 0x00, 0x00),
        OxyColor.FromRgb(0x88, 0x22, 0x55),
        OxyColor.FromRgb(0x94, 0x94, 0x94),
        OxyColor.FromRgb(0xA1, 0x96, 0x0D),
    ];

    /// <summary>WCAG contrast ratio of <paramref name="c"/> against white (1 to 21).</summary>
    public static double ContrastOnWhite(OxyColor c) => 1.05 / (RelativeLuminance(c) + 0.05);

    static double RelativeLuminance(OxyColor c)
    {
        static double Lin(byte v)
        {
            double s = v / 255.0;
            return s <= 0.03928 ? s / 12.92 : Math.Pow((s + 0.055) / 1.055, 2.4);
        }
        return 0.2126 * Lin(c.R) + 0.7152 * Lin(c.G) + 0.0722 * Lin(c.B);
    }

    private static readonly MarkerType[] Markers = [MarkerType.Circle, MarkerType.Square, MarkerType.Triangle, MarkerType.Diamond];

    /// <summary>Colour of class <paramref name="index"/>; cycles after ten (see <see cref="ClassMarker"/>).</summary>
    public static OxyColor ClassColor(int index) => Categorical[((index % Categorical.Count) + Categorical.Count) % Categorical.Count];

    /// <summary>Marker of class <paramref name="index"/>: circles for the first ten, other shapes for each further ten.</summary>
    public static MarkerType ClassMarker(int index) => Markers[(Math.Abs(index) / Categorical.Count) % Markers.Length];

    /// <summary>Viridis with <paramref name="count"/> steps (perceptually uniform, colour-blind friendly).</summary>
    public static OxyPalette Viridis(int count = 256) => OxyPalettes.Viridis(count);

    /// <summary>
    /// A diverging palette for signed values such as correlations, <paramref name="count"/> steps: ColorBrewer's RdBu
    /// (Brewer 2003; readable with the common colour-vision deficiencies) from dark blue (most negative) through
    /// near-white (zero) to dark red (most positive). Drawn over limits symmetric about zero with an odd count (the
    /// default, 255), zero falls on the middle, near-white step, so the sign of every cell shows as its hue.
    /// </summary>
    public static OxyPalette Diverging(int count = 255) => OxyPalette.Interpolate(count,
        OxyColor.FromRgb(0x05, 0x30, 0x61), OxyColor.FromRgb(0x21, 0x66, 0xAC), OxyColor.FromRgb(0x43, 0x93, 0xC3),
        OxyColor.FromRgb(0x92, 0xC5, 0xDE), OxyColor.FromRgb(0xD1, 0xE5, 0xF0), OxyColor.FromRgb(0xF7, 0xF7, 0xF7),
        OxyColor.FromRgb(0xFD, 0xDB, 0xC7), OxyColor.FromRgb(0xF4, 0xA5, 0x82), OxyColor.FromRgb(0xD6, 0x60, 0x4D),
        OxyColor.FromRgb(0xB2, 0x18, 0x2B), OxyColor.FromRgb(0x67, 0x00, 0x1F));

    /// <summary><paramref name="count"/> ordered colours sampled from viridis (dark to yellow-green), for ordered series.</summary>
    public static OxyColor[] Sequential(int count)
    {
        if (count <= 0) return [];
        var pal = OxyPalettes.Viridis(256);
        var result = new OxyColor[count];
        for (int i = 0; i < count; i++)
        {
            // Stop short of the pale yellow end, which is hard to see on white.
            double t = count == 1 ? 0.0 : i / (double)(count - 1) * 0.85;
            result[i] = pal.Colors[(int)Math.Round(t * (pal.Colors.Count - 1))];
        }
        return result;
    }

    /// <summary>Blends a colour towards white by <paramref name="amount"/> in [0,1].</summary>
    public static OxyColor Lighten(OxyColor c, double amount)
        => OxyColor.FromRgb(
            (byte)Math.Round(c.R + (255 - c.R) * amount),
            (byte)Math.Round(c.G + (255 - c.G) * amount),
            (byte)Math.Round(c.B + (255 - c.B) * amount));

    /// <summary>Black or white, whichever reads better on <paramref name="background"/> (relative luminance test).</summary>
    public static OxyColor TextOn(OxyColor background) => RelativeLuminance(background) > 0.179 ? OxyColors.Black : OxyColors.White;
}
