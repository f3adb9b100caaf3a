using System.Text;
using OxyPlot;
using Probe.Reporting;
using Xunit;
using static Probe.Tests.Reporting.ReportingTestData;

namespace Probe.Tests.Reporting;

public class FigureExportTests
{
    // Low dpi keeps the suite fast; pixel sizes are still checked exactly against width x dpi.
    private static readonly FigureStyle Small = FigureStyle.Column with { Dpi = 120 };

    public static TheoryData<string> FigureNames()
    {
        var data = new TheoryData<string>();
        foreach (var (name, _) in AllFigures()) data.Add(name);
        return data;
    }

    private static PlotModel Build(string name) => AllFigures().Single(f => f.Name == name).Build();

    [Theory]
    [MemberData(nameof(FigureNames))]
    public void Every_figure_exports_png_svg_pdf_by_extension(string name)
    {
        var dir = TempDir("export-" + name);
        var model = Build(name);
        var paths = FigureExporter.SaveAll(model, Path.Combine(dir, name), Small);
        Assert.Equal(3, paths.Count);
        foreach (var p in paths) Assert.True(new FileInfo(p).Length > 500, $"{p} is missing or tiny");

        using var bmp = Decode(File.ReadAllBytes(Path.Combine(dir, name + ".png")));
        Assert.Equal(Small.PixelWidth, bmp.Width);
        Assert.Equal(Small.PixelHeight, bmp.Height);
        Assert.Equal((int)Math.Round(3.5 * 120), bmp.Width);
        Assert.True(Variance(bmp) > 100, "PNG looks blank");

        var svg = File.ReadAllText(Path.Combine(dir, name + ".svg"));
        Assert.Contains("<svg", svg);
        Assert.Contains("</svg>", svg);
        Assert.Contains("<text", svg); // titles and labels are real text, not missing
        var pdf = File.ReadAllBytes(Path.Combine(dir, name + ".pdf"));
        Assert.StartsWith("%PDF-", Encoding.ASCII.GetString(pdf, 0, 5));
        Assert.Contains("/FontFile", Encoding.ASCII.GetString(pdf)); // the font is embedded
    }

    [Theory]
    [MemberData(nameof(FigureNames))]
    public void Same_input_gives_identical_bytes(string name)
    {
        foreach (var format in new[] { FigureFormat.Png, FigureFormat.Svg, FigureFormat.Pdf })
        {
            var a = FigureExporter.Export(Build(name), format, Small);
            var b = FigureExporter.Export(Build(name), format, Small);
            if (!a.AsSpan().SequenceEqual(b))
            {
                var dir = TempDir("determinism-" + name);
                File.WriteAllBytes(Path.Combine(dir, "a." + format), a);
                File.WriteAllBytes(Path.Combine(dir, "b." + format), b);
                Assert.Fail($"{name} {format} differs between two identical exports (both written to {dir})");
            }
        }
    }

    [Fact]
    public void Title_text_renders_as_dark_pixels_in_the_title_band()
    {
        var withTitle = Figures.Histogram([0.1, 0.2, 0.2, 0.5], 4, 0, 1, title: "Firing rates of relu2 units");
        var noTitle = Figures.Histogram([0.1, 0.2, 0.2, 0.5], 4, 0, 1, title: null);
        using var a = Decode(FigureExporter.Export(withTitle, FigureFormat.Png, Small));
        using var b = Decode(FigureExporter.Export(noTitle, FigureFormat.Png, Small));
        int titled = DarkPixels(a, 0.2, 0.0, 0.8, 0.08);
        int untitled = DarkPixels(b, 0.2, 0.0, 0.8, 0.08);
        // Without a title the band holds only the plot frame and a tick label; the title adds hundreds of dark pixels.
        Assert.True(titled - untitled > 300, $"title band: {titled} dark pixels with a title, {untitled} without");
    }

    [Fact]
    public void A_scatter_of_an_embedding_matrix_is_the_scatter_of_its_two_columns()
    {
        var xy = new Matrix(4, 2, [0f, 3f, 1f, 1f, 2f, 2f, 3f, 0f]);
        int[] y = [0, 1, 0, 1];
        var fromMatrix = FigureExporter.Export(Figures.Scatter(xy, y, ["zero", "one"], "t", "a", "b", equalAspect: false), FigureFormat.Svg, Small);
        var fromColumns = FigureExporter.Export(Figures.Scatter([0, 1, 2, 3], [3, 1, 2, 0], y, ["zero", "one"], "t", "a", "b"), FigureFormat.Svg, Small);
        Assert.Equal(fromColumns, fromMatrix);
        // Without names the legend shows the label numbers; a 1-column embedding is refused.
        string svg = System.Text.Encoding.UTF8.GetString(FigureExporter.Export(Figures.Scatter(xy, y), FigureFormat.Svg, Small));
        Assert.Matches(@">\s*1\s*<", svg);
        Assert.Contains("a scatter plot needs 2", Assert.Throws<ProbeException>(() => Figures.Scatter(new Matrix(4, 1, [0f, 1f, 2f, 3f]), y)).Message);
    }

    [Fact]
    public void Png_records_its_dpi_in_a_pHYs_chunk()
    {
        var png = FigureExporter.Export(Build("histogram"), FigureFormat.Png, FigureStyle.Column);
        int at = png.AsSpan().IndexOf("pHYs"u8);
        Assert.True(at > 0);
        uint ppm = (uint)(png[at + 4] << 24 | png[at + 5] << 16 | png[at + 6] << 8 | png[at + 7]);
        Assert.Equal(11811u, ppm); // 300 dpi = 300 / 0.0254 px per metre
        Assert.Equal(PngDpi.Crc32("pHYs"u8.ToArray().Concat(png.AsSpan(at + 4, 9).ToArray()).ToArray()),
            (uint)(png[at + 13] << 24 | png[at + 14] << 16 | png[at + 15] << 8 | png[at + 16]));
        using var bmp = Decode(png);
        Assert.Equal(1050, bmp.Width); // 3.5 in x 300 dpi
        Assert.Equal(780, bmp.Height); // 2.6 in x 300 dpi
    }

    /// <summary>
    /// Figures on an opaque background were written as RGBA with alpha 255 in every pixel (a third of the file); they are
    /// RGB now (IHDR colour type 2, PNG specification 11.2.2), with the same pixels. A background that is not opaque
    /// keeps its alpha channel (colour type 6).
    /// </summary>
    [Fact]
    public void Png_of_an_opaque_figure_has_no_alpha_channel()
    {
        var png = FigureExporter.Export(Build("histogram"), FigureFormat.Png, Small);
        Assert.Equal("IHDR", Encoding.ASCII.GetString(png, 12, 4));
        Assert.Equal(8, png[24]);   // bit depth
        Assert.Equal(2, png[25]);   // colour type: truecolour, no alpha
        using (var bmp = Decode(png))
            Assert.Equal(SkiaSharp.SKColors.White, bmp.GetPixel(0, 0));
        var clear = Build("histogram");
        clear.Background = OxyColor.FromAColor(128, OxyColors.White);
        Assert.Equal(6, FigureExporter.Export(clear, FigureFormat.Png, Small)[25]);   // truecolour with alpha
    }

    [Fact]
    public void Crc32_matches_the_png_specification_check_value()
    {
        // The CRC-32 check value for "123456789" is 0xCBF43926 (ISO-HDLC CRC, used by PNG and zlib).
        Assert.Equal(0xCBF43926u, PngDpi.Crc32("123456789"u8));
    }

    [Fact]
    public void Unknown_extension_lists_the_valid_ones()
    {
        var ex = Assert.Throws<ProbeException>(() => FigureExporter.Save(Build("histogram"), Path.Combine(TempDir("ext"), "x.jpg")));
        Assert.Contains(".jpg", ex.Message);
        Assert.Contains(".png", ex.Message);
        Assert.Contains(".svg", ex.Message);
        Assert.Contains(".pdf", ex.Message);
    }

    [Fact]
    public void Invalid_style_is_refused()
    {
        Assert.Throws<ProbeException>(() => FigureExporter.Export(Build("histogram"), FigureFormat.Png, FigureStyle.Column with { Dpi = 0 }));
        Assert.Throws<ProbeException>(() => FigureExporter.Export(Build("histogram"), FigureFormat.Png, FigureStyle.Column with { WidthInches = double.NaN }));
    }

    [Fact]
    public void Presets_have_the_documented_sizes()
    {
        Assert.Equal(3.5, FigureStyle.Column.WidthInches);
        Assert.Equal(7.0, FigureStyle.Page.WidthInches);
        Assert.Equal(252, FigureStyle.Column.WidthPoints, 6);
        var fromPt = FigureStyle.FromPoints(252, 180);
        Assert.Equal(3.5, fromPt.WidthInches, 9);
        Assert.Equal(2.5, fromPt.HeightInches, 9);
    }

    [Fact]
    public void Unknown_font_family_falls_back_to_embedded_DejaVu_Sans()
    {
        Assert.Equal("DejaVu Sans", EmbeddedFonts.Get("No Such Font Family 123", 400).FamilyName);
        Assert.Equal("DejaVu Sans", EmbeddedFonts.Get(null, 700).FamilyName);
        Assert.True(EmbeddedFonts.Get(null, 700).IsBold);
    }
}

public class SvgPostProcessingTests
{
    [Fact]
    public void Svg_ids_are_renumbered_from_one_with_their_references()
    {
        var svg = "<clipPath id=\"cl_f\"></clipPath><g clip-path=\"url(#cl_f)\"><clipPath id=\"cl_1a\"/><g clip-path=\"url(#cl_1a)\"><text>cl_f</text>"u8.ToArray();
        var text = System.Text.Encoding.UTF8.GetString(SvgIds.Renumber(svg));
        Assert.Equal("<clipPath id=\"cl_1\"></clipPath><g clip-path=\"url(#cl_1)\"><clipPath id=\"cl_2\"/><g clip-path=\"url(#cl_2)\"><text>cl_f</text>", text);
    }

    [Fact]
    public void Svg_text_names_fallback_fonts()
    {
        var svg = System.Text.Encoding.UTF8.GetString(FigureExporter.Export(Figures.Histogram([0.1, 0.2], title: "t"), FigureFormat.Svg));
        Assert.Contains("font-family=\"DejaVu Sans, Bitstream Vera Sans, Verdana, sans-serif\"", svg);
    }
}
