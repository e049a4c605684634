#!/usr/bin/perl
# sa-views.pl: SpamAssassin's own views of messages, the oracle of
# rules/sa/view's TestAgainstSpamAssassin.
#
# usage: perl sa-views.pl SPECS MIMESPECS FILE...
#   SPECS      a file with one header-rule spec a line ("Subject", "From:addr", "ALL", ...)
#   MIMESPECS  a file with one mimeheader spec a line ("Content-Type", "Content-Type:raw", ...)
# For every FILE it prints one JSON line:
#   {"file":..., "get":{spec: value or null}, "body":[...], "rawbody":[...],
#    "full":..., "uris":[sorted], "mime":{spec: [value or null per part]}}
# Every string is SpamAssassin's octets, written as JSON with \u00XX escapes for
# bytes >= 0x80 (the Go side turns each rune back into one byte).
#
# One Mail::SpamAssassin object for all files; local tests only, no DNS, no
# user preferences; the stock configuration (normalize_charset 1, the default
# scan sizes, no trusted_networks: trust is inferred).
use strict;
use warnings;
use JSON::PP;

BEGIN {
  # The internal address parser only: Email::Address::XS is an optional
  # module, not a dependency of Debian's spamassassin, and SA defers to it for
  # some inputs when it is installed. See README.md.
  $ENV{SA_HEADER_ADDRESS_PARSER} = '1';
}
use Mail::SpamAssassin;
use Mail::SpamAssassin::PerMsgStatus;

my ($specfile, $mimefile, @files) = @ARGV;
die "usage: $0 SPECS MIMESPECS FILE...\n" unless defined $mimefile;

sub readlines {
  my ($f) = @_;
  open(my $fh, '<', $f) or die "$f: $!";
  my @l = grep { $_ ne '' } map { s/\r?\n\z//r } <$fh>;
  close $fh;
  return @l;
}
my @specs = readlines($specfile);
my @mimespecs = readlines($mimefile);

my $sa = Mail::SpamAssassin->new({
  local_tests_only => 1,
  dont_copy_prefs  => 1,
  userprefs_filename => '/dev/null',
  userstate_dir => '/tmp',
  post_config_text => "use_bayes 0\nuse_auto_whitelist 0\n",
});
$sa->init(1);

my $json = JSON::PP->new->ascii->canonical;

sub oct_str {
  my ($s) = @_;
  return undef unless defined $s;
  utf8::encode($s) if utf8::is_utf8($s);
  return $s;
}

foreach my $file (@files) {
  my $text = do {
    # slurp in a scope of its own: SpamAssassin's chomp needs $/ intact
    open(my $fh, '<', $file) or die "$file: $!";
    binmode $fh;
    local $/;
    my $t = <$fh>;
    close $fh;
    $t;
  };

  my $msg = $sa->parse($text, 0);
  my $pms = Mail::SpamAssassin::PerMsgStatus->new($sa, $msg);
  $pms->extract_message_metadata();

  my %get;
  foreach my $spec (@specs) {
    # as Plugin/Check.pm's do_head_tests: get() in list context, joined
    my @harr = $pms->get($spec);
    if (@harr) {
      $get{$spec} = oct_str(join($harr[0] =~ /\n\z/ ? "" : "\n", @harr));
    } else {
      $get{$spec} = undef;
    }
  }

  my %mime;
  foreach my $spec (@mimespecs) {
    # as Plugin/MIMEHeader.pm's eval_hook_called
    my $hdr = $spec;
    my $getraw = ($hdr =~ s/:raw$//) ? 1 : 0;
    my @vals;
    foreach my $p ($msg->find_parts(qr/./)) {
      my $val;
      if ($hdr eq 'ALL') {
        $val = $p->get_all_headers($getraw, 0);
      } elsif ($getraw) {
        $val = $p->raw_header($hdr);
      } else {
        $val = $p->get_header($hdr);
      }
      push @vals, oct_str($val);
    }
    $mime{$spec} = \@vals;
  }

  my $out = {
    file    => $file,
    get     => \%get,
    body    => [ map { oct_str($_) } @{ $pms->get_decoded_stripped_body_text_array() } ],
    rawbody => [ map { oct_str($_) } @{ $pms->get_decoded_body_text_array() } ],
    full    => oct_str($msg->get_pristine()),
    uris    => [ sort map { oct_str($_) } $pms->get_uri_list() ],
    mime    => \%mime,
  };
  print $json->encode($out), "\n";

  $pms->finish();
  $msg->finish();
}
