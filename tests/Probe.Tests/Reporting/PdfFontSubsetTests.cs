using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using Probe.Reporting;
using SkiaSharp;
using Xunit;

namespace Probe.Tests.Reporting;

/// <summary>
/// PDFs embed font subsets, not the whole DejaVu Sans files (759,720 and 708,920 bytes): each font's BaseFont carries a
/// subset tag ("ABCDEF+DejaVuSans"), each FontFile2 stream is a small TrueType file, and that file maps every character
/// the figure draws to the same glyph with the same advance as the full font does (read by Skia from the full font file).
/// The subsetter was also checked once with fontTools 4.38: cmap, advances and glyph outlines of every used character
/// equal the full font's.
/// </summary>
public class PdfFontSubsetTests
{
    private static readonly string FontDir = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "src", "Probe.Reporting", "Fonts");

    private static List<(string BaseFont, byte[] Font)> Fonts(byte[] pdf)
    {
        string text = Encoding.Latin1.GetString(pdf);
        var baseFonts = Regex.Matches(text, @"/FontName\s*/([^\s/>]+)").Select(m => m.Groups[1].Value).ToList();
        var files = new List<byte[]>();
        foreach (Match m in Regex.Matches(text, @"<<([^>]*?/Length1\s+(\d+)[^>]*)>>\s*stream\r?\n"))
        {
            int length = int.Parse(Regex.Match(m.Groups[1].Value, @"/Length\s+(\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            using var z = new ZLibStream(new MemoryStream(pdf, m.Index + m.Length, length), CompressionMode.Decompress);
            using var ms = new MemoryStream();
            z.CopyTo(ms);
            Assert.Equal(int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture), (int)ms.Length);
            files.Add(ms.ToArray());
        }
        Assert.Equal(baseFonts.Count, files.Count);
        return baseFonts.Zip(files).ToList();
    }

    [Fact]
    public void Pdf_fonts_are_tagged_subsets_that_draw_the_same_glyphs()
    {
        const string title = "Subset: AaBbQq 0.5 (x)";
        var model = Figures.Scatter([0, 1, 2, 3], [3, 1, 2, 0], [0, 1, 0, 1], ["zero", "one"], title, "PC1 (12.5%)", "PC2", style: FigureStyle.Column);
        var pdf = FigureExporter.Export(model, FigureFormat.Pdf, FigureStyle.Column);
        var fonts = Fonts(pdf);
        Assert.Equal(2, fonts.Count); // regular text and the bold title
        foreach (var (baseFont, font) in fonts)
        {
            Assert.Matches("^[A-Z]{6}\\+DejaVuSans(-Bold)?$", baseFont);
            bool bold = baseFont.EndsWith("-Bold", StringComparison.Ordinal);
            var full = File.ReadAllBytes(Path.Combine(FontDir, bold ? "DejaVuSans-Bold.ttf" : "DejaVuSans.ttf"));
            Assert.True(font.Length * 10 < full.Length, $"{baseFont}: {font.Length} bytes embedded, the full font has {full.Length}");
            using var sub = SKTypeface.FromData(SKData.CreateCopy(font));
            using var whole = SKTypeface.FromData(SKData.CreateCopy(full));
            Assert.NotNull(sub);
            string chars = bold ? title : "PC1 (12.5%)PC2zeroone0123";
            using var a = new SKPaint { Typeface = sub, TextSize = 12 };
            using var b = new SKPaint { Typeface = whole, TextSize = 12 };
            var ga = a.GetGlyphs(chars);
            var gb = b.GetGlyphs(chars);
            Assert.Equal(gb, ga);
            Assert.DoesNotContain((ushort)0, ga);
            Assert.Equal(b.GetGlyphWidths(chars), a.GetGlyphWidths(chars));
            // Glyphs the figure does not draw are not in the subset's character map.
            Assert.Equal(0, a.GetGlyphs("ж")[0]);
        }
        // Same figure, same bytes (the subset tag and font come from the glyph set only).
        Assert.Equal(pdf, FigureExporter.Export(model, FigureFormat.Pdf, FigureStyle.Column));
    }
}
