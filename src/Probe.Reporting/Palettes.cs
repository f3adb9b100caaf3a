using OxyPlot;

namespace Probe.Reporting;

/// <summary>Fixed colour palettes: a colour-blind-safe categorical palette and viridis for continuous values.</summary>
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
