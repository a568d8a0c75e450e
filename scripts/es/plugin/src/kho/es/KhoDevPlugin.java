/*
 * Development/CI additions for the plain Elasticsearch server distribution
 * that scripts/services runs.
 *
 * That distribution ships only the server core, so it lacks two things the
 * full distribution gets from its modules and that kho relies on:
 *
 *  - the root endpoint (GET / and HEAD /), which Elasticsearch clients use for
 *    info() and ping();
 *  - the common analysis components built on Lucene's analysis library, which
 *    is already on the server's classpath: asciifolding (diacritic folding,
 *    e.g. "quyết định" -> "quyet dinh", "đ" -> "d"), uppercase, trim, length,
 *    edge_ngram and ngram token filters; whitespace, keyword, letter,
 *    edge_ngram and ngram tokenizers; the html_strip char filter.
 *
 * Each behaves like the component of the same name in the full distribution,
 * for the options documented there that are handled below.
 */
package kho.es;

import java.io.Reader;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import java.util.function.Supplier;

import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.Tokenizer;
import org.apache.lucene.analysis.charfilter.HTMLStripCharFilter;
import org.apache.lucene.analysis.core.KeywordTokenizer;
import org.apache.lucene.analysis.core.LetterTokenizer;
import org.apache.lucene.analysis.core.UpperCaseFilter;
import org.apache.lucene.analysis.core.WhitespaceTokenizer;
import org.apache.lucene.analysis.miscellaneous.ASCIIFoldingFilter;
import org.apache.lucene.analysis.miscellaneous.LengthFilter;
import org.apache.lucene.analysis.miscellaneous.TrimFilter;
import org.apache.lucene.analysis.ngram.EdgeNGramTokenFilter;
import org.apache.lucene.analysis.ngram.EdgeNGramTokenizer;
import org.apache.lucene.analysis.ngram.NGramTokenFilter;
import org.apache.lucene.analysis.ngram.NGramTokenizer;
import org.elasticsearch.Build;
import org.elasticsearch.client.internal.node.NodeClient;
import org.elasticsearch.cluster.metadata.IndexNameExpressionResolver;
import org.elasticsearch.cluster.node.DiscoveryNodes;
import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.common.bytes.BytesArray;
import org.elasticsearch.common.io.stream.NamedWriteableRegistry;
import org.elasticsearch.common.settings.ClusterSettings;
import org.elasticsearch.common.settings.IndexScopedSettings;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.settings.SettingsFilter;
import org.elasticsearch.features.NodeFeature;
import org.elasticsearch.index.IndexSettings;
import org.elasticsearch.index.IndexVersion;
import org.elasticsearch.index.analysis.AbstractCharFilterFactory;
import org.elasticsearch.index.analysis.AbstractTokenFilterFactory;
import org.elasticsearch.index.analysis.AbstractTokenizerFactory;
import org.elasticsearch.index.analysis.CharFilterFactory;
import org.elasticsearch.index.analysis.NormalizingTokenFilterFactory;
import org.elasticsearch.index.analysis.TokenFilterFactory;
import org.elasticsearch.index.analysis.TokenizerFactory;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.rest.BaseRestHandler;
import org.elasticsearch.rest.RestController;
import org.elasticsearch.rest.RestHandler;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.RestResponse;
import org.elasticsearch.rest.RestStatus;
import org.elasticsearch.xcontent.XContentBuilder;

public class KhoDevPlugin extends Plugin implements ActionPlugin, AnalysisPlugin {

    private volatile ClusterService clusterService;

    @Override
    public java.util.Collection<?> createComponents(PluginServices services) {
        clusterService = services.clusterService();
        return List.of();
    }

    // ---------------------------------------------------------------- REST

    @Override
    public List<RestHandler> getRestHandlers(
        Settings settings,
        NamedWriteableRegistry namedWriteableRegistry,
        RestController restController,
        ClusterSettings clusterSettings,
        IndexScopedSettings indexScopedSettings,
        SettingsFilter settingsFilter,
        IndexNameExpressionResolver indexNameExpressionResolver,
        Supplier<DiscoveryNodes> nodesInCluster,
        Predicate<NodeFeature> clusterSupportsFeature
    ) {
        return List.of(new RootAction());
    }

    /** GET / and HEAD /: the same document as the full distribution's root endpoint. */
    private final class RootAction extends BaseRestHandler {
        @Override
        public String getName() {
            return "kho_root_action";
        }

        @Override
        public List<Route> routes() {
            return List.of(new Route(RestRequest.Method.GET, "/"), new Route(RestRequest.Method.HEAD, "/"));
        }

        @Override
        protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
            return channel -> {
                if (request.method() == RestRequest.Method.HEAD) {
                    channel.sendResponse(new RestResponse(RestStatus.OK, RestResponse.TEXT_CONTENT_TYPE, BytesArray.EMPTY));
                    return;
                }
                Build build = Build.current();
                XContentBuilder b = channel.newBuilder();
                if (request.hasParam("pretty") == false) {
                    b.prettyPrint().lfAtEnd();
                }
                b.startObject();
                b.field("name", clusterService.getNodeName());
                b.field("cluster_name", clusterService.getClusterName().value());
                b.field("cluster_uuid", clusterService.state().metadata().clusterUUID());
                b.startObject("version");
                b.field("number", build.qualifiedVersion());
                b.field("build_flavor", build.flavor());
                b.field("build_type", build.type().displayName());
                b.field("build_hash", build.hash());
                b.field("build_date", build.date());
                b.field("build_snapshot", build.isSnapshot());
                b.field("lucene_version", IndexVersion.current().luceneVersion().toString());
                b.field("minimum_wire_compatibility_version", build.minWireCompatVersion());
                b.field("minimum_index_compatibility_version", build.minIndexCompatVersion());
                b.endObject();
                b.field("tagline", "You Know, for Search");
                b.endObject();
                channel.sendResponse(new RestResponse(RestStatus.OK, b));
            };
        }
    }

    // ------------------------------------------------------------ analysis

    @Override
    public Map<String, AnalysisProvider<TokenFilterFactory>> getTokenFilters() {
        return Map.of(
            "asciifolding", (is, env, name, s) -> new AsciiFoldingFactory(name, s),
            "uppercase", (is, env, name, s) -> new UpperCaseFactory(name, s),
            "trim", (is, env, name, s) -> new TrimFactory(name, s),
            "length", (is, env, name, s) -> new LengthFactory(name, s),
            "edge_ngram", (is, env, name, s) -> new EdgeNGramFilterFactory(name, s),
            "ngram", (is, env, name, s) -> new NGramFilterFactory(name, s)
        );
    }

    @Override
    public Map<String, AnalysisProvider<TokenizerFactory>> getTokenizers() {
        return Map.of(
            "whitespace", (is, env, name, s) -> new SimpleTokenizerFactory(is, s, name, WhitespaceTokenizer::new),
            "keyword", (is, env, name, s) -> new SimpleTokenizerFactory(is, s, name, KeywordTokenizer::new),
            "letter", (is, env, name, s) -> new SimpleTokenizerFactory(is, s, name, LetterTokenizer::new),
            "edge_ngram", (is, env, name, s) -> new NGramTokenizerFactory(is, s, name, true),
            "ngram", (is, env, name, s) -> new NGramTokenizerFactory(is, s, name, false)
        );
    }

    @Override
    public Map<String, AnalysisProvider<CharFilterFactory>> getCharFilters() {
        return Map.of("html_strip", (is, env, name, s) -> new HtmlStripFactory(name, s));
    }

    static final class AsciiFoldingFactory extends AbstractTokenFilterFactory implements NormalizingTokenFilterFactory {
        private final boolean preserveOriginal;

        AsciiFoldingFactory(String name, Settings settings) {
            super(name, settings);
            preserveOriginal = settings.getAsBoolean("preserve_original", false);
        }

        @Override
        public TokenStream create(TokenStream in) {
            return new ASCIIFoldingFilter(in, preserveOriginal);
        }

        @Override
        public TokenStream normalize(TokenStream in) {
            // a normalizer must yield one token: never keep the original there
            return new ASCIIFoldingFilter(in, false);
        }
    }

    static final class UpperCaseFactory extends AbstractTokenFilterFactory implements NormalizingTokenFilterFactory {
        UpperCaseFactory(String name, Settings settings) {
            super(name, settings);
        }

        @Override
        public TokenStream create(TokenStream in) {
            return new UpperCaseFilter(in);
        }
    }

    static final class TrimFactory extends AbstractTokenFilterFactory implements NormalizingTokenFilterFactory {
        TrimFactory(String name, Settings settings) {
            super(name, settings);
        }

        @Override
        public TokenStream create(TokenStream in) {
            return new TrimFilter(in);
        }
    }

    static final class LengthFactory extends AbstractTokenFilterFactory {
        private final int min;
        private final int max;

        LengthFactory(String name, Settings settings) {
            super(name, settings);
            min = settings.getAsInt("min", 0);
            max = settings.getAsInt("max", Integer.MAX_VALUE);
        }

        @Override
        public TokenStream create(TokenStream in) {
            return new LengthFilter(in, min, max);
        }
    }

    static final class EdgeNGramFilterFactory extends AbstractTokenFilterFactory {
        private final int min;
        private final int max;
        private final boolean preserveOriginal;

        EdgeNGramFilterFactory(String name, Settings settings) {
            super(name, settings);
            min = settings.getAsInt("min_gram", 1);
            max = settings.getAsInt("max_gram", 2);
            preserveOriginal = settings.getAsBoolean("preserve_original", false);
        }

        @Override
        public TokenStream create(TokenStream in) {
            return new EdgeNGramTokenFilter(in, min, max, preserveOriginal);
        }

        @Override
        public boolean breaksFastVectorHighlighter() {
            return true;
        }
    }

    static final class NGramFilterFactory extends AbstractTokenFilterFactory {
        private final int min;
        private final int max;
        private final boolean preserveOriginal;

        NGramFilterFactory(String name, Settings settings) {
            super(name, settings);
            min = settings.getAsInt("min_gram", 1);
            max = settings.getAsInt("max_gram", 2);
            preserveOriginal = settings.getAsBoolean("preserve_original", false);
        }

        @Override
        public TokenStream create(TokenStream in) {
            return new NGramTokenFilter(in, min, max, preserveOriginal);
        }

        @Override
        public boolean breaksFastVectorHighlighter() {
            return true;
        }
    }

    static final class SimpleTokenizerFactory extends AbstractTokenizerFactory {
        private final Supplier<Tokenizer> supplier;

        SimpleTokenizerFactory(IndexSettings indexSettings, Settings settings, String name, Supplier<Tokenizer> supplier) {
            super(indexSettings, settings, name);
            this.supplier = supplier;
        }

        @Override
        public Tokenizer create() {
            return supplier.get();
        }
    }

    /** ngram / edge_ngram tokenizers, with min_gram, max_gram and token_chars. */
    static final class NGramTokenizerFactory extends AbstractTokenizerFactory {
        private final int min;
        private final int max;
        private final boolean edge;
        private final Set<String> tokenChars;

        NGramTokenizerFactory(IndexSettings indexSettings, Settings settings, String name, boolean edge) {
            super(indexSettings, settings, name);
            this.edge = edge;
            min = settings.getAsInt("min_gram", 1);
            max = settings.getAsInt("max_gram", 2);
            tokenChars = new HashSet<>(settings.getAsList("token_chars", List.of()));
            for (String c : tokenChars) {
                if (Set.of("letter", "digit", "whitespace", "punctuation", "symbol").contains(c) == false) {
                    throw new IllegalArgumentException("Unknown token type: '" + c + "' in [token_chars] of [" + name + "]");
                }
            }
        }

        boolean isTokenChar(int c) {
            if (tokenChars.isEmpty()) {
                return true;
            }
            if (tokenChars.contains("letter") && Character.isLetter(c)) {
                return true;
            }
            if (tokenChars.contains("digit") && Character.isDigit(c)) {
                return true;
            }
            if (tokenChars.contains("whitespace") && Character.isWhitespace(c)) {
                return true;
            }
            int type = Character.getType(c);
            if (tokenChars.contains("punctuation")) {
                switch (type) {
                    case Character.START_PUNCTUATION, Character.END_PUNCTUATION, Character.OTHER_PUNCTUATION,
                        Character.CONNECTOR_PUNCTUATION, Character.DASH_PUNCTUATION, Character.INITIAL_QUOTE_PUNCTUATION,
                        Character.FINAL_QUOTE_PUNCTUATION:
                        return true;
                    default:
                        break;
                }
            }
            if (tokenChars.contains("symbol")) {
                switch (type) {
                    case Character.MATH_SYMBOL, Character.CURRENCY_SYMBOL, Character.MODIFIER_SYMBOL, Character.OTHER_SYMBOL:
                        return true;
                    default:
                        break;
                }
            }
            return false;
        }

        @Override
        public Tokenizer create() {
            if (edge) {
                return new EdgeNGramTokenizer(min, max) {
                    @Override
                    protected boolean isTokenChar(int chr) {
                        return NGramTokenizerFactory.this.isTokenChar(chr);
                    }
                };
            }
            return new NGramTokenizer(min, max) {
                @Override
                protected boolean isTokenChar(int chr) {
                    return NGramTokenizerFactory.this.isTokenChar(chr);
                }
            };
        }
    }

    static final class HtmlStripFactory extends AbstractCharFilterFactory {
        private final Set<String> escapedTags;

        HtmlStripFactory(String name, Settings settings) {
            super(name);
            escapedTags = Set.copyOf(settings.getAsList("escaped_tags", List.of()));
        }

        @Override
        public Reader create(Reader reader) {
            return new HTMLStripCharFilter(reader, escapedTags.isEmpty() ? null : escapedTags);
        }
    }
}
